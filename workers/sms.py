"""SMS worker (`qrt worker sms`): followup.cases.v1 -> texts queued -> sent.

Policy: each batch of case events (up to BATCH) re-derives the texts of every
case it names, once per case, in one transaction (`schedule_cases_texts`,
idempotent by the texts' keys), so a redelivered event queues nothing twice.
Of an event only its kind and case id are read; one whose kind and case id do
not decode is logged and skipped: it carries no text of its own, and the case's
next event derives the same texts. An outage of the
store is retried with backoff, unacknowledged: the transaction rolled back
whole, the retry re-derives the whole batch. A case whose texts the store
refuses for their data is found by halving the batch, logged and skipped; the
rest of the batch is stored. Sending runs beside it
(services/sms/dispatch.py): texts left `sending` by a crash are reconciled
before anything new is sent. SMS records leave through the store's outbox
(`sms.outbound.v1`, `sms.events.v1`), published acks=all, then marked.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import faust
from pydantic import BaseModel, ValidationError

from schemas.cases import CaseEventKind
from schemas.codec import decode
from services.bootstrap import Context
from services.runtime.metrics import TEXTS
from services.runtime.retry import describe, with_backoff
from services.sms.texts import TEXT_RELEVANT, schedule_cases_texts_or_refuse
from services.store.outboxes import sms_record_outbox
from services.topics import FOLLOWUP_CASES
from workers.app import raw_topic
from workers.outbox import register_relay

BATCH = 500
COUNT_EVERY_S = 2.0
log = logging.getLogger(__name__)


def register_sms_agent(app: faust.App, ctx: Context) -> None:
    settings = ctx.settings
    store, cipher = ctx.store, ctx.cipher
    cases_topic = raw_topic(app, settings.topic(FOLLOWUP_CASES))

    register_relay(app, ctx, sms_record_outbox(store), "SMS records")
    _register_sending(app, ctx)

    @app.agent(cases_topic, name="sms")
    async def case_events(stream: Any) -> None:
        async for batch in stream.take_events(BATCH, within=0.05):
            case_ids = _text_relevant(batch)
            if not case_ids:
                continue
            refused = await with_backoff(
                functools.partial(
                    asyncio.to_thread,
                    schedule_cases_texts_or_refuse,
                    store,
                    cipher,
                    ctx.programs,
                    case_ids,
                    ctx.clock(),
                ),
                what="queueing the texts of a batch of cases",
            )
            for case_id, reason in refused:
                log.error("the store refused the texts of case %s: %s; skipped", case_id, reason)


class _Named(BaseModel):
    """What this worker reads of a case event: which case, and what happened to it (the
    texts are derived from the store, not from the event)."""

    kind: CaseEventKind
    case_id: str


def _text_relevant(batch: Any) -> list[str]:
    """The cases named by the batch's events that can change texts."""
    case_ids: list[str] = []
    for event in batch:
        try:
            case_event = decode(_Named, event.message.value or b"")
        except ValidationError as exc:
            log.warning(
                "skipping a case event that does not decode (%d errors) at %s[%d]@%d",
                exc.error_count(),
                event.message.topic,
                event.message.partition,
                event.message.offset,
            )
            continue
        if case_event.kind in TEXT_RELEVANT:
            case_ids.append(case_event.case_id)
    return case_ids


def _register_sending(app: faust.App, ctx: Context) -> None:
    settings, sender, dispatcher = ctx.settings, ctx.sender, ctx.dispatcher

    @app.task
    async def send_texts() -> None:
        """Never stops quietly: a fault is logged and sending resumes after a pause,
        reconciling first (a text may have been left `sending`)."""
        log.info(
            "SMS sender running (%s, %.2f texts/s)",
            type(sender).__name__,
            settings.sms_rate_per_second,
        )
        while True:
            try:
                await with_backoff(dispatcher.reconcile, what="reconciling texts left sending")
                await with_backoff(dispatcher.run, what="sending texts")
            except Exception as exc:
                log.error("the SMS sender failed (%s); resuming in 10 s", describe(exc))
                await asyncio.sleep(10)

    @app.task
    async def count_texts() -> None:
        """The sender's running totals (sent, failed, deferred, ...) as metrics."""
        seen: dict[str, int] = {}
        while True:
            await asyncio.sleep(COUNT_EVERY_S)
            for outcome, total in vars(dispatcher.stats).items():
                if isinstance(total, int) and total > seen.get(outcome, 0):
                    TEXTS.labels(outcome=outcome).inc(total - seen.get(outcome, 0))
                    seen[outcome] = total

"""Case agent: followup.intake.v1 -> store (cases) -> followup.cases.v1.

Policy: records are handled in batches by `services.cases.opening.open_cases`,
idempotent through the store's unique keys, so a redelivered batch after a
crash opens nothing twice. An outage of the store (database down, locked,
unreachable: `services/runtime/retry.py`) is retried with backoff and the batch
is not acknowledged meanwhile. A record that does not decode, names a program
the programs file no longer has, or that the store refuses for its data (a
value it cannot hold, a constraint): found by halving the batch, stored
without it, and dead-lettered to overdose.rejected.v1 with the reason
(`store_refused`). Any other fault stops the process unacknowledged, to be
restarted and given the batch again. Case events leave
through the store's outbox: written in the same transaction as the case,
published (acks=all) by a background relay and then marked, so none is lost
and a crash at worst publishes one twice.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import traceback
from collections.abc import Awaitable
from typing import Any, TypeVar

import faust
from pydantic import ValidationError

from schemas.codec import decode, encode
from schemas.intake import IntakeRecord, Origin, RejectReason
from services.bootstrap import Context
from services.cases.opening import IntakeResult, open_cases_or_refuse
from services.ingest.dead_letter import dead_letter as build_dead_letter
from services.runtime.metrics import CASE_EVENTS, CASES_OPENED
from services.runtime.retry import describe, with_backoff
from services.store.outboxes import case_event_outbox
from services.topics import FOLLOWUP_INTAKE, OVERDOSE_REJECTED
from workers.app import raw_topic
from workers.outbox import register_relay
from workers.rejections import register_rejection_agent

T = TypeVar("T")
BATCH = 500
BATCH_WITHIN_S = 0.02
log = logging.getLogger(__name__)


async def or_stop(work: Awaitable[T]) -> T:
    """An unexpected fault stops the process before the batch can be acknowledged:
    the supervisor (`qrt up`, the container runtime) restarts the worker and the
    batch is delivered again. Restarting the agent in-process could acknowledge a
    batch that was never stored."""
    try:
        return await work
    except Exception as exc:
        log.error(
            "case worker stopping on an unexpected fault (%s); the batch will be redelivered\n%s",
            describe(exc), "".join(traceback.format_tb(exc.__traceback__)),
        )  # fmt: skip
        logging.shutdown()
        os._exit(70)


def count(done: IntakeResult, refused: int) -> None:
    for handling, n in (
        ("opened", done.opened), ("linked", done.linked), ("duplicate", done.duplicates),
        ("fatal", done.skipped), ("too_old", done.too_old), ("refused", refused),
    ):  # fmt: skip
        if n:
            CASE_EVENTS.labels(handling=handling).inc(n)
    if done.opened:
        CASES_OPENED.inc(done.opened)


def register_case_agent(app: faust.App, ctx: Context) -> None:
    worker = _CaseWorker(app, ctx)
    register_relay(app, ctx, case_event_outbox(worker.store), "case events", wake=worker.wake_relay)
    register_rejection_agent(app, ctx)  # the store is here: dead letters kept for coordinators
    intake_topic = raw_topic(app, ctx.settings.topic(FOLLOWUP_INTAKE))

    @app.agent(intake_topic, name="cases")
    async def cases(stream: Any) -> None:
        async for batch in stream.take_events(BATCH, within=BATCH_WITHIN_S):
            records = await worker.decoded(batch)
            if records:
                await worker.store_batch(records)


class _CaseWorker:
    def __init__(self, app: faust.App, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store  # opened now: a schema out of date stops the worker at start
        self.cipher = ctx.cipher  # keys checked now, not at the first event
        self.rejected = raw_topic(app, ctx.settings.topic(OVERDOSE_REJECTED))
        self.wake_relay = asyncio.Event()

    async def dead_letter(self, message: Any, reason: RejectReason, detail: str) -> Any:
        origin = Origin(topic=message.topic, partition=message.partition, offset=message.offset)
        record = build_dead_letter(message.value or b"", origin, self.ctx.clock(), reason, detail)
        return await self.rejected.send(key=message.key, value=encode(record), force=True)

    async def decoded(self, batch: Any) -> list[tuple[Any, IntakeRecord]]:
        """The batch's intake records; one that does not decode or names a program this
        worker does not know is dead-lettered."""
        records: list[tuple[Any, IntakeRecord]] = []
        refused = []
        for event in batch:
            why = None
            try:
                record = decode(IntakeRecord, event.message.value or b"")
            except ValidationError as exc:
                why = (RejectReason.INVALID_EVENT,
                       f"intake record does not decode ({exc.error_count()} errors); "
                       "intake and case workers must run the same version")  # fmt: skip
            else:
                if self.ctx.programs.get(record.program_id) is None:
                    why = (RejectReason.UNROUTABLE,
                           f"program {record.program_id!r} is not in the case worker's "
                           "programs file; both workers must read the same file")  # fmt: skip
            if why is not None:
                refused.append(await self.dead_letter(event.message, *why))
            else:
                records.append((event.message, record))
        await asyncio.gather(*refused)
        return records

    async def store_batch(self, records: list[tuple[Any, IntakeRecord]]) -> None:
        """Stored with backoff through an outage; what the store refuses is dead-lettered."""
        ctx = self.ctx
        done, refusals = await or_stop(
            with_backoff(
                functools.partial(
                    asyncio.to_thread, open_cases_or_refuse, self.store,
                    [r for _, r in records], ctx.programs, ctx.clock(), self.cipher,
                ),
                what="storing a batch of cases",
            )
        )  # fmt: skip
        count(done, len(refusals))
        for index, reason in refusals:
            message = records[index][0]
            log.warning(
                "dead-lettering a record the store refused at %s[%d]@%d: %s",
                message.topic, message.partition, message.offset, reason,
            )  # fmt: skip
            await (
                await self.dead_letter(
                    message,
                    RejectReason.STORE_REFUSED,
                    f"the store refused this record ({reason}); it was not stored, "
                    "the rest of its batch was",
                )
            )
        self.wake_relay.set()

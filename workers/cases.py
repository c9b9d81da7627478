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
import base64
import contextlib
import functools
import logging
import os
import traceback
from collections.abc import Awaitable
from typing import Any, TypeVar

import faust
from pydantic import ValidationError

from schemas.codec import decode, encode
from schemas.intake import IntakeRecord, Origin, RejectedEvent, RejectReason
from services.bootstrap import Context
from services.cases.opening import IntakeResult, open_cases_or_refuse
from services.runtime.metrics import CASE_EVENTS, CASES_OPENED
from services.runtime.retry import describe, with_backoff
from services.topics import FOLLOWUP_CASES, FOLLOWUP_INTAKE, OVERDOSE_REJECTED
from workers.app import raw_topic

T = TypeVar("T")
BATCH = 500
BATCH_WITHIN_S = 0.02
RELAY_EVERY_S = 1.0
log = logging.getLogger(__name__)


async def _or_stop(work: Awaitable[T]) -> T:
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
    settings = ctx.settings
    store = ctx.store  # opened now: a schema out of date stops the worker at start
    cipher = ctx.cipher  # keys checked now, not at the first event
    intake_topic = raw_topic(app, settings.topic(FOLLOWUP_INTAKE))
    cases_topic = raw_topic(app, settings.topic(FOLLOWUP_CASES))
    rejected = raw_topic(app, settings.topic(OVERDOSE_REJECTED))
    wake_relay = asyncio.Event()

    async def dead_letter(message: Any, reason: RejectReason, detail: str) -> Any:
        raw = message.value or b""
        record = RejectedEvent(
            reason=reason,
            detail=detail,
            origin=Origin(topic=message.topic, partition=message.partition, offset=message.offset),
            rejected_at=ctx.clock(),
            original_size=len(raw),
            original_b64=base64.b64encode(raw).decode("ascii"),
        )
        return await rejected.send(key=message.key, value=encode(record), force=True)

    async def relay() -> None:
        while True:
            pending = await asyncio.to_thread(store.unpublished_case_events)
            if not pending:
                return
            sent = [
                await cases_topic.send(key=p.program_id.encode(), value=encode(p.event), force=True)
                for p in pending
            ]
            await asyncio.gather(*sent)
            await asyncio.to_thread(store.mark_published, [p.seq for p in pending], ctx.clock())

    @app.task
    async def relay_case_events() -> None:
        """Publish the outbox: woken after each stored batch, and every second for case
        events a crash left unpublished. Off the batch path: storing the next batch
        never waits for the broker."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake_relay.wait(), RELAY_EVERY_S)
            wake_relay.clear()
            await with_backoff(relay, what="publishing case events")

    @app.agent(intake_topic, name="cases")
    async def cases(stream: Any) -> None:
        async for batch in stream.take_events(BATCH, within=BATCH_WITHIN_S):
            records: list[tuple[Any, IntakeRecord]] = []
            refused = []
            for event in batch:
                try:
                    record = decode(IntakeRecord, event.message.value or b"")
                except ValidationError as exc:
                    refused.append(
                        await dead_letter(
                            event.message,
                            RejectReason.INVALID_EVENT,
                            f"intake record does not decode ({exc.error_count()} errors); "
                            "intake and case workers must run the same version",
                        )
                    )
                    continue
                if ctx.programs.get(record.program_id) is None:
                    refused.append(
                        await dead_letter(
                            event.message,
                            RejectReason.UNROUTABLE,
                            f"program {record.program_id!r} is not in the case worker's "
                            "programs file; both workers must read the same file",
                        )
                    )
                    continue
                records.append((event.message, record))
            await asyncio.gather(*refused)
            if records:
                done, refusals = await _or_stop(
                    with_backoff(
                        functools.partial(
                            asyncio.to_thread,
                            open_cases_or_refuse,
                            store,
                            [r for _, r in records],
                            ctx.programs,
                            ctx.clock(),
                            cipher,
                        ),
                        what="storing a batch of cases",
                    )
                )
                count(done, len(refusals))
                for index, reason in refusals:
                    message = records[index][0]
                    log.warning(
                        "dead-lettering a record the store refused at %s[%d]@%d: %s",
                        message.topic, message.partition, message.offset, reason,
                    )  # fmt: skip
                    await (
                        await dead_letter(
                            message,
                            RejectReason.STORE_REFUSED,
                            f"the store refused this record ({reason}); it was not stored, "
                            "the rest of its batch was",
                        )
                    )
                wake_relay.set()

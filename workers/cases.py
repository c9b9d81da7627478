"""Case agent: followup.intake.v1 -> store (cases) -> followup.cases.v1.

Policy: records are handled in batches by `services.cases.opening.open_cases`,
idempotent through the store's unique keys, so a redelivered batch after a
crash opens nothing twice. A store fault (database down or locked) is retried
with backoff and the batch is not acknowledged meanwhile. A record that does
not decode, or names a program the programs file no longer has, is
dead-lettered to overdose.rejected.v1 with the reason. Any other fault stops
the process unacknowledged, to be restarted and given the batch again. Case events leave
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
from collections.abc import Awaitable
from typing import Any

import faust
from pydantic import ValidationError

from schemas.codec import decode, encode
from schemas.intake import IntakeRecord, Origin, RejectedEvent, RejectReason
from services.bootstrap import Context
from services.cases.opening import open_cases
from services.runtime.retry import with_backoff
from services.topics import FOLLOWUP_CASES, FOLLOWUP_INTAKE, OVERDOSE_REJECTED
from workers.app import raw_topic

BATCH = 500
BATCH_WITHIN_S = 0.02
RELAY_EVERY_S = 1.0
log = logging.getLogger(__name__)


async def _or_stop(work: Awaitable[object]) -> None:
    """An unexpected fault stops the process before the batch can be acknowledged:
    the supervisor (`qrt up`, the container runtime) restarts the worker and the
    batch is delivered again. Restarting the agent in-process could acknowledge a
    batch that was never stored."""
    try:
        await work
    except Exception:
        log.exception("case worker stopping on an unexpected fault; the batch will be redelivered")
        logging.shutdown()
        os._exit(70)


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
            records: list[IntakeRecord] = []
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
                records.append(record)
            await asyncio.gather(*refused)
            if records:
                await _or_stop(
                    with_backoff(
                        functools.partial(
                            asyncio.to_thread,
                            open_cases,
                            store,
                            records,
                            ctx.programs,
                            ctx.clock(),
                            cipher,
                        ),
                        what="storing a batch of cases",
                    )
                )
                wake_relay.set()

"""Spike agent: followup.intake.v1 -> store (spike reports, alerts) -> overdose.spikes.v1,
and the on-call staff texts.

Policy: records come in batches (services/spikes/detection.py), idempotent through the
store's unique keys and its one open alert per area and rule, so a redelivered batch or
a restart raises nothing twice. An outage of the store is retried with backoff, the
batch unacknowledged meanwhile. A record that does not decode is skipped here: the
case worker reads the same topic and dead-letters it (overdose.rejected.v1); a program
this worker does not know counts nothing. Any other fault stops the process
unacknowledged (as the case worker does). Alerts leave through the store's outbox;
every TIMER_S the timer ends the alerts whose window cleared, sends the due staff
texts and deletes reports past their 90 days."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import faust
from pydantic import ValidationError

from schemas.codec import decode
from schemas.intake import IntakeRecord
from services.bootstrap import Context
from services.runtime.retry import with_backoff
from services.spikes.detection import record_batch
from services.spikes.endings import end_cleared, purge_old_reports
from services.spikes.staff_texts import send_due
from services.store.outboxes import spike_alert_outbox
from services.topics import FOLLOWUP_INTAKE
from workers.app import raw_topic
from workers.cases import or_stop
from workers.outbox import register_relay

BATCH = 500
BATCH_WITHIN_S = 0.05
TIMER_S = 5.0
PURGE_EVERY = 720  # timer passes: an hour
log = logging.getLogger(__name__)


def register_spike_agent(app: faust.App, ctx: Context) -> None:
    store, cipher = ctx.store, ctx.cipher
    wake = asyncio.Event()
    register_relay(app, ctx, spike_alert_outbox(store), "spike alerts", wake=wake)
    intake_topic = raw_topic(app, ctx.settings.topic(FOLLOWUP_INTAKE))

    async def stored(work: Any, what: str) -> Any:
        return await or_stop(with_backoff(functools.partial(asyncio.to_thread, work), what=what))

    async def texts() -> None:
        await or_stop(send_due(store, cipher, ctx.programs, ctx.sender, ctx.clock))

    @app.agent(intake_topic, name="spikes")
    async def spikes(stream: Any) -> None:
        async for batch in stream.take_events(BATCH, within=BATCH_WITHIN_S):
            records = []
            for event in batch:
                try:
                    records.append(decode(IntakeRecord, event.message.value or b""))
                except ValidationError:
                    log.warning("spike agent skips a record that does not decode (the case "
                                "worker dead-letters it)")  # fmt: skip
            if records:
                raised = await stored(
                    functools.partial(record_batch, store, cipher, records, ctx.programs,
                                      ctx.clock()),
                    "counting reports for spikes",
                )  # fmt: skip
                if raised:
                    wake.set()
                    await texts()

    passes = 0

    @app.timer(TIMER_S)
    async def spike_timer() -> None:
        nonlocal passes
        ended = await stored(
            functools.partial(end_cleared, store, cipher, ctx.programs, ctx.clock()),
            "ending cleared spike alerts",
        )
        if ended:
            wake.set()
        await texts()
        passes += 1
        if passes % PURGE_EVERY == 1:
            await stored(functools.partial(purge_old_reports, store, ctx.clock()),
                         "deleting old spike reports")  # fmt: skip

"""A worker's outbox relay as a Faust task: the one relay (services/runtime/outbox_relay.py)
woken after each stored batch (when given `wake`) and every RELAY_EVERY_S for records a
crash left behind; an outage of the store or broker is retried with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from typing import Any

import faust

from services.bootstrap import Context
from services.ports import Outbox, OutboxRecord
from services.runtime.outbox_relay import relay
from services.runtime.retry import with_backoff
from workers.app import raw_topic

RELAY_EVERY_S = 1.0


def register_relay(
    app: faust.App, ctx: Context, outbox: Outbox, what: str, wake: asyncio.Event | None = None
) -> None:
    topics: dict[str, Any] = {}

    async def publish(record: OutboxRecord) -> Any:
        if record.topic not in topics:
            topics[record.topic] = raw_topic(app, ctx.settings.topic(record.topic))
        return await topics[record.topic].send(key=record.key, value=record.value, force=True)

    async def relay_outbox() -> None:
        """Off the batch path: storing the next batch never waits for the broker."""
        while True:
            with contextlib.suppress(TimeoutError):
                if wake is None:
                    await asyncio.sleep(RELAY_EVERY_S)
                else:
                    await asyncio.wait_for(wake.wait(), RELAY_EVERY_S)
                    wake.clear()
            await with_backoff(
                functools.partial(relay, outbox, publish, ctx.clock), what=f"publishing {what}"
            )

    app.task(relay_outbox)

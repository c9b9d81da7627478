"""The one relay of every outbox: publish what is pending, wait for the broker's
acknowledgement of each (acks=all), then mark it published; until nothing is left. A
crash in between publishes a record again (at least once; consumers are idempotent),
never loses one."""

from __future__ import annotations

import asyncio

from services.ports import Clock, Outbox, Publish


async def relay(outbox: Outbox, publish: Publish, clock: Clock, limit: int = 500) -> int:
    """Publish and mark everything pending; how many records went out."""
    sent = 0
    while True:
        pending = await asyncio.to_thread(outbox.pending, limit)
        if not pending:
            return sent
        acks = [await publish(record) for record in pending]
        await asyncio.gather(*acks)
        await asyncio.to_thread(outbox.mark_published, [r.seq for r in pending], clock())
        sent += len(pending)

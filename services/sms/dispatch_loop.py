"""One run of the dispatcher: a claimer runs ahead of `concurrency` senders so the pace
never stalls, a recorder writes results in batches, a checker looks up texts that got
no answer. Nothing is lost through a store outage (services/sms/dispatch.py); while
sending is paused (services/sms/sender_pause.py) the senders give back what was
claimed, all at once, instead of sending it."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from functools import partial
from typing import Protocol

from services.ports import Clock
from services.runtime.retry import describe
from services.sms.dispatch_parts import Claimed, Pacer, Result, drain, until_stored, wait

log = logging.getLogger(__name__)
RECHECK_AFTER_S = 5.0  # a text claimed longer ago than this is checked again before it goes


class Sending(Protocol):
    """What the loop needs of the dispatcher (services/sms/dispatch.py)."""

    batch: int
    concurrency: int
    check_every_s: float
    pacer: Pacer
    clock: Clock

    def claim(self, now: datetime) -> list[Claimed]: ...

    def release(self, items: list[Claimed]) -> None: ...

    def still_to_send(self, item: Claimed) -> bool: ...

    def record(self, done: list[Result]) -> None: ...

    def held(self, item: Claimed) -> bool: ...

    async def send_one(self, item: Claimed) -> Result: ...

    async def reconcile(self, *, checking_only: bool = False) -> None: ...


class SendLoop:
    def __init__(self, dispatcher: Sending, stop: asyncio.Event, until_idle: bool) -> None:
        self.d, self.stop, self.until_idle = dispatcher, stop, until_idle
        self.todo: asyncio.Queue[Claimed | None] = asyncio.Queue(maxsize=dispatcher.batch * 2)
        self.done: asyncio.Queue[Result | None] = asyncio.Queue()

    async def run(self) -> None:
        d = self.d
        senders = [asyncio.create_task(self.sender()) for _ in range(d.concurrency)]
        record_task = asyncio.create_task(self.recorder())
        others = [] if self.until_idle else [asyncio.create_task(self.checker())]
        try:
            await self.claimer()
            await asyncio.gather(*senders)
        finally:
            for task in [*senders, *others]:
                task.cancel()
            await asyncio.gather(*senders, *others, return_exceptions=True)
            left = [i for i in drain(self.todo) if i is not None]
            if left:  # claimed, never sent: back to the queue (else reconciled at start)
                await until_stored(lambda: d.release(left), "releasing", None)
            await self.done.put(None)
            await record_task

    async def claimer(self) -> None:
        d, stop = self.d, self.stop
        while not stop.is_set():
            if self.todo.qsize() >= d.batch:
                await asyncio.sleep(0.02)
                continue
            claimed = await until_stored(lambda: d.claim(d.clock()), "claiming texts", stop)
            for item in claimed or ():
                await self.todo.put(item)
            if not claimed:
                if self.until_idle and self.todo.empty():
                    break
                await wait(stop, 0.5)
        for _ in range(d.concurrency):
            await self.todo.put(None)

    async def sender(self) -> None:
        d = self.d
        while (item := await self.todo.get()) is not None:
            if self.stop.is_set() and not self.until_idle:
                await until_stored(partial(d.release, [item]), "releasing", None)
                continue
            if d.held(item):
                await self.give_back(item)
                continue
            if time.monotonic() - item.claimed_at > RECHECK_AFTER_S:
                go = await until_stored(
                    partial(d.still_to_send, item), "checking a text", self.stop
                )
                if not go:
                    if go is None:  # stopping while the store was away
                        await until_stored(partial(d.release, [item]), "releasing", None)
                    continue
            await d.pacer.wait()
            if d.held(item):  # paused while this one waited for its turn
                await self.give_back(item)
                continue
            await self.done.put(await d.send_one(item))

    async def give_back(self, item: Claimed) -> None:
        """Sending is paused: this text and every other claimed one go back to the queue
        in one transaction (the end marks of the other senders stay in place)."""
        items, ends = [item], 0
        for other in drain(self.todo):
            if other is None:
                ends += 1
            else:
                items.append(other)
        await until_stored(partial(self.d.release, items), "releasing", None)
        for _ in range(ends):
            self.todo.put_nowait(None)

    async def recorder(self) -> None:
        finished = False
        while not finished:
            item = await self.done.get()
            batch: list[Result] = []
            while item is not None:
                batch.append(item)
                if self.done.empty() or len(batch) >= 500:
                    break
                item = self.done.get_nowait()
            finished = item is None
            if batch:  # kept until the store has them: never lost, never sent again
                await until_stored(partial(self.d.record, batch), "recording", None)

    async def checker(self) -> None:
        """Texts that got no answer: looked up at the sender when their check is due."""
        while not self.stop.is_set():
            await wait(self.stop, self.d.check_every_s)
            if self.stop.is_set():
                return
            try:
                await self.d.reconcile(checking_only=True)
            except Exception as exc:  # checked again next time; never fatal
                log.warning("could not check unanswered texts: %s", describe(exc))

"""The dispatcher's small parts: the pace of one sender, what a claim and a send give,
the running totals, and waiting on the store through an outage."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.runtime.retry import describe, is_transient
from services.sms.sender_types import SendRefused, SendRetryable, SentMessage

log = logging.getLogger(__name__)
OUTAGE_PATIENCE_S = 3600.0  # how long sends wait for the store to record them


class Pacer:
    """At most `rate` sends a second from one sender, evenly spaced; `pause` holds every
    send of that sender for a while (Twilio's answers pause sending as a whole through
    services/sms/sender_pause.py, on the injected clock)."""

    def __init__(
        self,
        rate_per_s: float,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.gap = 1.0 / rate_per_s
        self.monotonic, self.sleep = monotonic, sleep
        self._next = 0.0

    async def wait(self) -> None:
        now = self.monotonic()
        slot = max(self._next, now)
        self._next = slot + self.gap
        if slot > now:
            await self.sleep(slot - now)

    def pause(self, seconds: float) -> None:
        self._next = max(self._next, self.monotonic() + seconds)


@dataclass
class Claimed:
    text_id: int
    to: str
    body: str
    tries: int
    claimed_at: float = field(default_factory=time.monotonic)


@dataclass
class Result:
    claimed: Claimed
    sent: SentMessage | None = None
    refused: SendRefused | None = None
    retry: SendRetryable | None = None
    resume_at: datetime | None = None  # with `retry`: when the paused sender tries again


@dataclass
class DispatchStats:
    sent: int = 0
    deferred: int = 0
    cancelled: int = 0
    failed: int = 0
    retried: int = 0
    reconciled_sent: int = 0
    reconciled_requeued: int = 0
    held_for_check: int = 0
    paused: int = 0  # pauses of the whole sender begun (services/sms/sender_pause.py)
    by_code: dict[int, int] = field(default_factory=dict)

    def count_code(self, code: int) -> None:
        self.by_code[code] = self.by_code.get(code, 0) + 1


@dataclass(frozen=True)
class RetryPolicy:
    """`max_tries`: sends of one text whose fate stayed unknown (no answer, then not
    found at the sender) before it is failed; the backoff of a paused sender, from
    `first_backoff_s` up to `max_backoff_s` (QRT_SMS_MAX_TRIES, QRT_SMS_RETRY_FIRST_SECONDS,
    QRT_SMS_RETRY_MAX_SECONDS)."""

    max_tries: int = 8
    first_backoff_s: float = 5.0
    max_backoff_s: float = 600.0


async def until_stored(call: Callable[[], Any], what: str, stop: asyncio.Event | None) -> Any:
    """`call()` in a thread, tried again while the store is away (an outage, not a
    refusal); None if `stop` is set meanwhile. Without `stop` it keeps trying for
    OUTAGE_PATIENCE_S at most (then the start-up reconcile settles the texts)."""
    delay, waited = 0.2, 0.0
    while True:
        try:
            return await asyncio.to_thread(call)
        except Exception as exc:
            if not is_transient(exc):
                raise
            if stop is None and waited > OUTAGE_PATIENCE_S:
                log.error("%s: the store is still away (%s); giving up", what, describe(exc))
                return None
            log.warning("%s: the store is away (%s); trying again", what, describe(exc))
        if stop is not None and stop.is_set():
            return None
        await asyncio.sleep(delay)
        waited += delay
        delay = min(delay * 2, 10.0)


def drain(queue: asyncio.Queue[Any]) -> list[Any]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


async def wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass

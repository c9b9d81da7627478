"""Retry a transient fault with exponential backoff and jitter; never give up silently."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger(__name__)
T = TypeVar("T")

TRANSIENT: tuple[type[BaseException], ...] = (OperationalError, DBAPIError, ConnectionError)


async def with_backoff(
    action: Callable[[], Awaitable[T]],
    *,
    what: str,
    first_delay_s: float = 0.2,
    max_delay_s: float = 30.0,
    transient: tuple[type[BaseException], ...] = TRANSIENT,
) -> T:
    """Run `action` until it succeeds; a transient fault waits and tries again."""
    delay = first_delay_s
    attempt = 1
    while True:
        try:
            return await action()
        except transient as exc:
            wait = delay * (0.5 + random.random())
            log.warning(
                "%s failed (attempt %d, %s); retrying in %.1f s",
                what,
                attempt,
                type(exc).__name__,
                wait,
            )
            await asyncio.sleep(wait)
            delay = min(delay * 2, max_delay_s)
            attempt += 1

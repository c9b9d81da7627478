"""Faults: an outage is retried with backoff and jitter; a refusal of the data is not.

`is_transient` tells the two apart. Transient: the database or broker cannot be
reached or is busy (connection refused, server closed the connection, timeout,
SQLite busy), and any other driver error that is not about the data
(a programming error, say, is retried and logged until the code is fixed:
dead-lettering every record would hide it). Permanent: the store refused the
data itself (`DataError`: a value it cannot hold; `IntegrityError`: a constraint,
once the caller's own retry for a lost race is spent; a value our column types
refuse) and any error that is not from the database at all.

`isolate` finds the records at fault in a batch the store refuses: it halves
the batch until each failing record stands alone, stores everything else, and
returns the failing records with their error, to be dead-lettered. Never
retried forever, never stopping the records behind them."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

log = logging.getLogger(__name__)
T = TypeVar("T")
Item = TypeVar("Item")

PERMANENT_DB = (DataError, IntegrityError)


def is_transient(exc: BaseException) -> bool:
    """An outage (retry with backoff), not a refusal of the data (dead-letter)."""
    if isinstance(exc, PERMANENT_DB):
        return False
    if isinstance(exc, DBAPIError):
        return True
    if isinstance(exc, StatementError):  # a bind value our column types refuse
        return False
    return isinstance(exc, ConnectionError | TimeoutError)


_DIGITS = re.compile(r"\d[\d\s()+-]{5,}\d")  # a phone number, not an address like 127.0.0.1


_INPUT = re.compile(r"input_value=.*?(, input_type=\w+)")  # pydantic quotes what it refused


def mask_numbers(text: str) -> str:
    """Long digit runs (phone numbers) masked, and values a validator quoted left out."""
    return _INPUT.sub(r"input_value=[left out]\1", _DIGITS.sub("[number]", text))


def describe(exc: BaseException) -> str:
    """The error's type and the first line of its message, long digit runs (phone
    numbers) masked: what a log line or a dead-letter reason may say."""
    inner = getattr(exc, "orig", None) or exc
    first = (str(inner).strip().splitlines() or [""])[0]
    return f"{type(inner).__name__}: {mask_numbers(first)}"[:300]


async def with_backoff(
    action: Callable[[], Awaitable[T]],
    *,
    what: str,
    first_delay_s: float = 0.2,
    max_delay_s: float = 30.0,
) -> T:
    """Run `action` until it succeeds; an outage waits and tries again, anything else
    is raised to the caller."""
    delay = first_delay_s
    attempt = 1
    while True:
        try:
            return await action()
        except Exception as exc:
            if not is_transient(exc):
                raise
            wait = delay * (0.5 + random.random())
            log.warning(
                "%s failed (attempt %d, %s); retrying in %.1f s",
                what,
                attempt,
                describe(exc),
                wait,
            )
            await asyncio.sleep(wait)
            delay = min(delay * 2, max_delay_s)
            attempt += 1


def isolate(
    items: Sequence[Item], attempt: Callable[[Sequence[Item]], object]
) -> list[tuple[Item, BaseException]]:
    """`attempt(items)`; when the store refuses the data, the batch is halved and each
    half attempted on its own, down to single items: returns those refused, with their
    error (everything else was stored). An outage is raised at once."""
    if not items:
        return []
    try:
        attempt(items)
        return []
    except Exception as exc:
        if is_transient(exc):
            raise
        if len(items) == 1:
            return [(items[0], exc)]
    middle = len(items) // 2
    return isolate(items[:middle], attempt) + isolate(items[middle:], attempt)

"""The clock is injected everywhere a rule depends on time.

`QRT_CLOCK_OFFSET_SECONDS` (development only) shifts the clock of every process
that reads the same setting by the same amount: the whole stack runs as if it
were another hour of the day, which is how the tests show that nothing depends
on the hour they happen to run at."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def shifted_clock(offset_seconds: float) -> Clock:
    """The system clock moved by `offset_seconds` (0: the system clock itself)."""
    if not offset_seconds:
        return system_clock
    offset = timedelta(seconds=offset_seconds)

    def clock() -> datetime:
        return datetime.now(UTC) + offset

    return clock

"""The tests' own view of the clock that the processes under test run on.

`pytest --clock-at HH:MM` (a time of day in America/New_York, today) sets
`QRT_CLOCK_OFFSET_SECONDS` for the whole session, so every process a test starts
(which inherits the environment) and every test that reads `now()` agree on a
clock that reads that hour. Without the option the offset is 0: the real clock."""

from __future__ import annotations

import os
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from services.clock import shifted_clock

OFFSET_VARIABLE = "QRT_CLOCK_OFFSET_SECONDS"
ZONE = ZoneInfo("America/New_York")


def now() -> datetime:
    """What the processes started by this test session take for now (UTC)."""
    return shifted_clock(float(os.environ.get(OFFSET_VARIABLE) or 0))()


def offset_for(hhmm: str, real: datetime | None = None) -> float:
    """Seconds from the real clock to today's `hhmm` in New York."""
    real = real or datetime.now(UTC)
    hour, minute = (int(part) for part in hhmm.split(":"))
    day = real.astimezone(ZONE).date()
    target = datetime.combine(day, time(hour, minute), tzinfo=ZONE)
    return (target - real).total_seconds()

"""CDC's EARS C2: a day's count against the area's own recent history.

The baseline is the 7 days that end 2 days before the day tested (the 2-day guard
band keeps the start of a spike out of its own baseline). The statistic is
(count - mean) / sd of the baseline, with the sd floored so that a quiet area,
whose baseline is all zeros, needs three overdoses in a day to flag. A day is
flagged when the statistic exceeds the threshold (3 in EARS) and the count is at
least the minimum count. Pure: counts in, flags out."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

BASELINE_DAYS = 7
GUARD_DAYS = 2


@dataclass(frozen=True)
class C2Settings:
    threshold: float = 3.0
    # the sd's floor: over an all-zero baseline 2 overdoses give 2.5 (no flag), 3 give 3.75
    min_sd: float = 0.8
    min_count: int = 2


@dataclass(frozen=True)
class C2Result:
    day: int  # index into the series
    count: int
    expected: float  # the baseline's mean
    sd: float
    statistic: float
    flagged: bool


def c2(series: Sequence[int], day: int, settings: C2Settings = C2Settings()) -> C2Result | None:
    """The C2 test of `series[day]`; None when fewer than 9 days come before it."""
    start = day - GUARD_DAYS - BASELINE_DAYS
    if start < 0 or day >= len(series):
        return None
    baseline = series[start : day - GUARD_DAYS]
    mean = statistics.fmean(baseline)
    sd = max(statistics.stdev(baseline), settings.min_sd)
    count = series[day]
    statistic = (count - mean) / sd
    flagged = statistic > settings.threshold and count >= settings.min_count
    return C2Result(day, count, mean, sd, statistic, flagged)


def flagged_days(series: Sequence[int], settings: C2Settings = C2Settings()) -> list[int]:
    """Every day of the series that C2 flags."""
    results = (c2(series, day, settings) for day in range(len(series)))
    return [r.day for r in results if r is not None and r.flagged]

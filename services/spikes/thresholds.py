"""The plain rule: at least N overdoses in one area within a sliding window of H hours.

Given the times of an area's overdoses (one per incident), say whether a spike is
on at a moment, since when, and how many it holds. A spike starts at the
threshold-th overdose inside one window, grows while more arrive, and ends once
the window that ends now holds fewer than the threshold. Pure."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Threshold:
    count: int
    window: timedelta


@dataclass(frozen=True)
class SpikeState:
    started_at: datetime  # the time of the overdose that reached the threshold
    count: int  # overdoses from the first of the window that started it until now
    last_at: datetime


def in_window(times: Sequence[datetime], end: datetime, window: timedelta) -> int:
    return sum(1 for t in times if end - window < t <= end)


def spike_at(times: Sequence[datetime], now: datetime, rule: Threshold) -> SpikeState | None:
    """The spike on at `now`, or None. Walked forward in time: a spike starts when a
    window first holds the threshold, and ends when the window drops below it, which
    between two overdoses can only happen as the oldest leaves. One that went quiet and
    came back is a new spike (a later start)."""
    ordered = sorted(t for t in times if t <= now)
    started: datetime | None = None
    first = 0  # index of the first overdose of the spike on
    for i, at in enumerate(ordered):
        # just before this overdose the window held those at or after at - window: if
        # too few, the spike on ended meanwhile
        if started is not None and i - bisect_left(ordered, at - rule.window) < rule.count:
            started = None
        lo = bisect_right(ordered, at - rule.window)
        if started is None and i + 1 - lo >= rule.count:
            started, first = at, lo
    if started is None or in_window(ordered, now, rule.window) < rule.count:
        return None
    return SpikeState(started_at=started, count=len(ordered) - first, last_at=ordered[-1])

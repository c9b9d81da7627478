"""Counting without the store: the median and 90th percentile of a group's hours (as
PostgreSQL's `percentile_cont`: linear between the two values around position q*(n-1)),
and the words of space-separated lists counted. Pure."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Spread:
    n: int
    median: float | None
    p90: float | None


def continuous_quantile(ordered: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) of values in ascending order; None when there are none."""
    if not ordered:
        return None
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def count_words(rows: Sequence[Any]) -> dict[str, int]:
    """Rows of (space-separated words, count) as a count per word (a word once a row)."""
    out: dict[str, int] = defaultdict(int)
    for words, count in rows:
        for word in set((words or "").split()):
            out[word] += int(count)
    return dict(out)

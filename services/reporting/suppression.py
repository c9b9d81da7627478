"""The small-cell rule of shareable figures (`share=true`, `--share`), in one place.

A count from 1 to 10 is shown as `"<11"` (CMS and CDC data releases). A share is left
out (None) when its numerator, its denominator or what the denominator has beyond the
numerator is from 1 to 10: any of them would let a reader work the small count back
out. Quantiles of 1 to 10 measured cases are left out with their `n`. Zero is shown:
it names nobody. Without `share` every figure is shown as it is."""

from __future__ import annotations

from collections.abc import Iterable

from schemas.report import SUPPRESSED, Cell, NamedCount, Quantiles

SMALL_MIN, SMALL_MAX = 1, 10


def is_small(count: int) -> bool:
    return SMALL_MIN <= count <= SMALL_MAX


def cell(count: int, share: bool) -> Cell:
    """A count as shown."""
    if share and is_small(count):
        return SUPPRESSED
    return count


def share_of(part: int, whole: int, share: bool) -> float | None:
    """part / whole (0..1, four decimals); None when there is no whole, or when shown
    for release and part, whole or whole - part is small."""
    if whole <= 0:
        return None
    if share and any(is_small(n) for n in (part, whole, whole - part)):
        return None
    return round(part / whole, 4)


def quantiles(n: int, median: float | None, p90: float | None, share: bool) -> Quantiles:
    """The median and 90th percentile of `n` measured values, in hours (two decimals)."""
    if n == 0 or (share and is_small(n)):
        return Quantiles(n=cell(n, share))
    return Quantiles(n=n, median_hours=_hours(median), p90_hours=_hours(p90))


def named(rows: Iterable[tuple[str, int]], share: bool) -> list[NamedCount]:
    return [NamedCount(name=name, count=cell(count, share)) for name, count in rows]


def _hours(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)

"""The small-cell rule of shareable figures (`share=true`, `--share`), in one place. Pure.

Primary suppression: a count from 1 to 10 is shown as `"<11"` (CMS and CDC data
releases). A share is left out (None) when its numerator, its denominator or what the
denominator has beyond the numerator is from 1 to 10 (`reveals_small`). Zero is shown:
it names nobody.

Complementary (secondary) suppression, `protect(total, parts)`: where counts add up to a
total (fatal and non-fatal to the overdoses), a reader who sees the total and every part
but one works the hidden one out. For each such group the rule hides the smallest shown
non-zero part (as `">10"`: it is above 10; the total when no part is left) until the
group is safe, which is checked as a reader would work: every shown count is exact, a
`"<11"` is from 1 to 10, a `">10"` from 11 up, a count the report does not show (a
`Count.unshown`) is unknown, at least its `floor`. From the group's one equation the
reader gets each hidden count's range (the least and the most it can be given the
others' ranges). The group is safe when no hidden count's range is a single value, and,
when every hidden count of the group is on the same side (all parts, the total shown),
their sum, which the reader then knows, is not from 1 to 10. A count the report does not
show but a group gives exactly becomes known to the other groups (`protect_all` runs the
groups until none changes), and when a group has nothing left to hide but such a count,
a count is hidden in the group that gave it. Groups share counts (a month's fatal
overdoses are in the month's group and the period's), and ranges narrowed in one group
narrow others': `protect_all` then narrows every count's range over all groups at once,
over and over (`narrowed`), and while a hidden count is left one value, hides the
smallest shown non-zero count of a group it is in and starts again.

A count that stays one value when every non-zero count of its groups is hidden cannot be
helped by hiding more (zeros are never hidden) and is left as it is: ten `"<11"` parts
of a `"<11"` total are all 1 (the total is 10)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from schemas.report import SUPPRESSED, WITHHELD, Cell, Quantiles

SMALL_MIN, SMALL_MAX = 1, 10
INF = math.inf


def is_small(count: int) -> bool:
    return SMALL_MIN <= count <= SMALL_MAX


def share_of(part: int, whole: int) -> float | None:
    """part / whole (0..1, four decimals); None when there is no whole."""
    return None if whole <= 0 else round(part / whole, 4)


def reveals_small(part: int, whole: int) -> bool:
    """Whether the share part / whole would reveal a count from 1 to 10: part, whole or
    whole - part is one."""
    return any(is_small(n) for n in (part, whole, whole - part))


def quantiles(n: int, median: float | None, p90: float | None) -> Quantiles:
    """The median and 90th percentile of `n` measured values, in hours (two decimals)."""
    if n == 0:
        return Quantiles(n=0)
    return Quantiles(n=n, median_hours=_hours(median), p90_hours=_hours(p90))


def _hours(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


class Kind(Enum):
    CELL = "cell"  # a count the report shows: a number, "<11" or ">10"
    SHARE = "share"  # a count a shown share gives (the share times its whole): shown or not
    UNSHOWN = "unshown"  # a count the report never shows, known only if groups give it


@dataclass(eq=False)
class Count:
    """One count of a shareable report as the rule sees it (mutable while it runs)."""

    value: int
    kind: Kind = Kind.CELL
    hidden: bool = False  # CELL: shown as "<11" / ">10"; SHARE: the share left out
    known: bool = False  # hidden, but a group gives it exactly (SHARE, UNSHOWN)
    floor: Count | None = None  # UNSHOWN: the reader knows it is at least this count
    given_by: Group | None = None  # the group that made it known

    @classmethod
    def cell(cls, value: int) -> Count:
        """A shown count: hidden at once when from 1 to 10 (primary suppression)."""
        return cls(value, hidden=is_small(value))

    @classmethod
    def unshown(cls, value: int, floor: Count | None = None) -> Count:
        return cls(value, Kind.UNSHOWN, hidden=True, floor=floor)

    @property
    def shown(self) -> Cell:
        """The count as the report gives it."""
        if not self.hidden:
            return self.value
        return SUPPRESSED if is_small(self.value) else WITHHELD

    def bounds(self) -> tuple[float, float]:
        """The least and the most a reader knows this count to be."""
        if not self.hidden or self.known:
            return self.value, self.value
        if self.kind is Kind.CELL:
            return (SMALL_MIN, SMALL_MAX) if is_small(self.value) else (SMALL_MAX + 1, INF)
        return (self.floor.bounds()[0] if self.floor else 0), INF


Group = tuple[Count, Sequence[Count]]  # a total and the parts that add up to it


def protect(total: Count, parts: Sequence[Count]) -> bool:
    """The complementary rule for one group (`total` = the sum of `parts`): hide the
    smallest shown non-zero part, or the total when no part is left, until `safe`.
    True when it hid a count or learned one the report does not show."""
    changed = False
    while True:
        changed |= _learn(total, parts)
        if safe(total, parts):
            return changed
        count = _next_to_hide((total, parts), set())
        if count is None:
            return changed
        count.hidden, changed = True, True


def protect_all(groups: Iterable[Group]) -> None:
    """`protect` every group until none changes (a count hidden for one group is hidden
    in every group it belongs to); then, as long as the ranges a reader narrows over all
    groups at once (`narrowed`) leave a hidden count one value, hide the smallest shown
    non-zero count of a group it is in (parts first), and start again."""
    groups = list(groups)
    helpless: set[int] = set()  # one value whatever else is hidden (the module's doc)
    while True:
        while any([protect(total, parts) for total, parts in groups]):
            pass
        bounds = narrowed(groups)
        pinned = [c for c in _members(groups) if c.kind is Kind.CELL and c.hidden
                  and id(c) not in helpless and bounds[id(c)][0] >= bounds[id(c)][1]]  # fmt: skip
        if not pinned:
            return
        count = _next_around(pinned[0], groups)
        if count is None:
            helpless.add(id(pinned[0]))
        else:
            count.hidden = True


def narrowed(groups: Sequence[Group]) -> dict[int, tuple[float, float]]:
    """Each count's range (by `id`) as a reader narrows it from every group in turn, over
    and over until nothing narrows: the figures' bounds as far as they go together."""
    members = _members(groups)
    bounds = {id(c): c.bounds() for c in members}
    floored = [c for c in members if c.floor is not None and id(c.floor) in bounds]
    narrowing = True
    while narrowing:
        narrowing = False
        for count in floored:  # at least its floor, as far as that is narrowed
            low, high = bounds[id(count)]
            floor = bounds[id(count.floor)][0]
            if floor > low and count.hidden and not count.known:
                bounds[id(count)], narrowing = (floor, high), True
        for total, parts in groups:
            terms = [(-1, total), *((1, part) for part in parts)]
            spans = [(sign, bounds[id(c)]) for sign, c in terms]
            for (_, count), (low, high) in zip(terms, ranges(spans, 0), strict=True):
                old = bounds[id(count)]
                new = (max(old[0], low), min(old[1], high))
                if new != old:
                    bounds[id(count)], narrowing = new, True
    return bounds


def safe(total: Count, parts: Sequence[Count]) -> bool:
    """Whether a reader can work no hidden count of the group out from it (the module's
    doc)."""
    terms = [(-1, total), *((1, part) for part in parts)]
    hidden = [(sign, c) for sign, c in terms if c.hidden and not c.known]
    if not hidden:
        return True
    k = -sum(sign * c.value for sign, c in terms if not c.hidden or c.known)
    spans = [(sign, c.bounds()) for sign, c in hidden]
    for (_, count), (low, high) in zip(hidden, ranges(spans, k), strict=True):
        if count.kind is Kind.CELL and low >= high:
            return False
    one_side = len({sign for sign, _ in hidden}) == 1
    told = any(c.kind is Kind.CELL for _, c in hidden)
    return not (one_side and told and is_small(abs(k)))


Span = tuple[float, float]


def ranges(terms: Sequence[tuple[int, Span]], k: float) -> list[Span]:
    """For sum(sign * x) = k over counts x of the given ranges: the range of each x the
    others' allow (whole numbers all, so every value between is possible)."""
    spans = [(low, high) if sign > 0 else (-high, -low) for sign, (low, high) in terms]
    lows, highs = [a for a, _ in spans], [b for _, b in spans]
    out = []
    for (sign, _), (a, b) in zip(terms, spans, strict=True):
        low, high = max(a, k - _without(highs, b)), min(b, k - _without(lows, a))
        out.append((low, high) if sign > 0 else (-high, -low))
    return out


def _without(values: list[float], value: float) -> float:
    """The sum of `values` less one `value` (infinite if another is)."""
    infinite = [v for v in values if math.isinf(v)]
    if len(infinite) - (1 if math.isinf(value) else 0) > 0:
        return infinite[0]
    return float(sum(v for v in values if not math.isinf(v)) - (0 if math.isinf(value) else value))


def _members(groups: Sequence[Group]) -> list[Count]:
    seen: dict[int, Count] = {}
    for total, parts in groups:
        for count in (total, *parts):
            seen.setdefault(id(count), count)
    return list(seen.values())


def _next_around(count: Count, groups: Sequence[Group]) -> Count | None:
    """The smallest shown non-zero part of a group `count` is in, else such a total; else
    the same in the groups next to those (sharing a count, or holding the floor of one),
    and so on outward."""
    near, reached = [count], {id(count)}
    done: set[int] = set()
    while near:
        mine = [g for g in groups if id(g[1]) not in done and any(
            c is n for n in near for c in (g[0], *g[1]))]  # fmt: skip
        done |= {id(g[1]) for g in mine}
        for candidates in ([p for _, ps in mine for p in ps], [t for t, _ in mine]):
            hideable = [c for c in candidates if _can_hide(c)]
            if hideable:
                return min(hideable, key=lambda c: c.value)
        linked = [c for t, ps in mine for c in (t, *ps)]
        linked += [c.floor for c in linked if c.floor is not None]
        near = [c for c in linked if id(c) not in reached]
        reached |= {id(c) for c in near}
    return None


def _learn(total: Count, parts: Sequence[Count]) -> bool:
    """Counts the report does not show that this group gives exactly become known."""
    terms = [(-1, total), *((1, part) for part in parts)]
    hidden = [(sign, c) for sign, c in terms if c.hidden and not c.known]
    k = -sum(sign * c.value for sign, c in terms if not c.hidden or c.known)
    learned = False
    spans = [(sign, c.bounds()) for sign, c in hidden]
    for (_, count), (low, high) in zip(hidden, ranges(spans, k), strict=True):
        if count.kind is not Kind.CELL and low >= high:
            count.known, count.given_by, learned = True, (total, parts), True
    return learned


def _next_to_hide(group: Group, seen: set[int]) -> Count | None:
    """The smallest shown non-zero part, else the total; else, for a count of the group
    known from another group, that group's (and the count is unknown again)."""
    total, parts = group
    seen.add(id(parts))
    shown = [p for p in parts if _can_hide(p)]
    if shown:
        return min(shown, key=lambda p: p.value)
    if _can_hide(total):
        return total
    for count in (total, *parts):
        if count.known and count.given_by is not None and id(count.given_by[1]) not in seen:
            found = _next_to_hide(count.given_by, seen)
            if found is not None:
                count.known, count.given_by = False, None
                return found
    return None


def _can_hide(count: Count) -> bool:
    return not count.hidden and count.value > 0 and count.kind is not Kind.UNSHOWN

"""Whether a reader can work a hidden count of shareable figures out, as the tests
(tests/unit/test_report_rules.py, tests/integration/test_report_figures.py) check it,
apart from the rule's own code (services/reporting/suppression.py).

A reader sees each count as a number, `"<11"` (1 to 10), `">10"` (11 or more) or not at
all (None: what counts add up to without the report showing it, at least its `floor`
when it has one), and knows which counts add up to which (`Equation`: a total and its
parts). `problems` lists what is wrong, in words (none: the figures are safe):

1. truthful: a number is the count, `"<11"` a count from 1 to 10, `">10"` one above 10,
   and zero is shown;
2. each equation whose total is shown as a number: its hidden parts are none, or at least
   two whose sum, which the reader gets as the total less the shown parts, is above 10;
3. all equations at once: no hidden count is determined by linear algebra (its unit
   vector lies in the row space of the equations over the counts not shown as numbers,
   reduced exactly over the rationals), nor by intervals (each equation narrows each
   such count from the others' ranges, over and over until nothing narrows; no hidden
   count's range ends as one value)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

Equation = tuple[str, Sequence[str]]
Shown = int | str | None
SMALL, WITHHELD = "<11", ">10"


def problems(
    values: Mapping[str, int], shown: Mapping[str, Shown], equations: Sequence[Equation],
    floors: Mapping[str, str] | None = None,
) -> list[str]:  # fmt: skip
    found = _untruthful(values, shown)
    for total, parts in equations:
        if sum(values[p] for p in parts) != values[total]:
            found.append(f"{total} is not the sum of {list(parts)}")
        found += _group(values, shown, total, parts)
    hidden = sorted(n for n, s in shown.items() if isinstance(s, str))
    found += [f"{n} is determined by the equations" for n in _determined(shown, equations)
              if n in hidden]  # fmt: skip
    ranges = _intervals(shown, equations, floors or {})
    found += [f"{n} narrows to {ranges[n][0]}" for n in hidden if ranges[n][0] == ranges[n][1]]
    return found


def _untruthful(values: Mapping[str, int], shown: Mapping[str, Shown]) -> list[str]:
    out = []
    for name, s in shown.items():
        v = values[name]
        fine = (s is None or (s == v and isinstance(s, int))
                or (s == SMALL and 1 <= v <= 10) or (s == WITHHELD and v > 10))  # fmt: skip
        if not fine:
            out.append(f"{name} is {v}, shown as {s!r}")
    return out


def _group(
    values: Mapping[str, int], shown: Mapping[str, Shown], total: str, parts: Sequence[str]
) -> list[str]:
    if not isinstance(shown[total], int):
        return []
    hidden = [p for p in parts if not isinstance(shown[p], int)]
    rest = values[total] - sum(values[p] for p in parts if p not in hidden)
    if hidden and (len(hidden) < 2 or rest <= 10):
        return [f"{total}: hidden parts {hidden} add up to {rest}, which the others give"]
    return []


def _determined(shown: Mapping[str, Shown], equations: Sequence[Equation]) -> set[str]:
    """The counts not shown as numbers that the equations give exactly."""
    unknown = sorted({n for e in equations for n in (e[0], *e[1]) if not isinstance(shown[n], int)})
    column = {n: i for i, n in enumerate(unknown)}
    rows = []
    for total, parts in equations:
        row = [Fraction(0)] * len(unknown)
        for sign, name in ((-1, total), *((1, p) for p in parts)):
            if name in column:
                row[column[name]] += sign
        rows.append(row)
    return {unknown[i] for i in _unit_rows(rows, len(unknown))}


def _unit_rows(rows: list[list[Fraction]], width: int) -> list[int]:
    """Reduced row echelon form; the columns whose row is a unit vector (their value is
    fixed by the equations whatever the other unknowns are)."""
    pivot_rows: list[tuple[int, list[Fraction]]] = []
    rows = [r for r in rows if any(r)]
    for col in range(width):
        at = next((i for i, r in enumerate(rows) if r[col] != 0), None)
        if at is None:
            continue
        row = rows.pop(at)
        row = [v / row[col] for v in row]
        rows = [[a - r[col] * b for a, b in zip(r, row, strict=True)] for r in rows]
        pivot_rows = [(c, [a - r[col] * b for a, b in zip(r, row, strict=True)])
                      for c, r in pivot_rows]  # fmt: skip
        pivot_rows.append((col, row))
        rows = [r for r in rows if any(r)]
    return [c for c, r in pivot_rows if sum(1 for v in r if v != 0) == 1]


def _intervals(
    shown: Mapping[str, Shown], equations: Sequence[Equation], floors: Mapping[str, str]
) -> dict[str, tuple[float, float]]:
    start = {SMALL: (1.0, 10.0), WITHHELD: (11.0, math.inf)}
    ranges: dict[str, tuple[float, float]] = {}
    for name, s in shown.items():
        ranges[name] = (s, s) if isinstance(s, int) else start.get(s or "", (0.0, math.inf))
    for _ in range(10_000):
        narrowed = [_narrow(ranges, total, parts) for total, parts in equations]
        for name, floor in floors.items():  # at least its floor, as far as that narrowed
            if ranges[floor][0] > ranges[name][0]:
                ranges[name] = (ranges[floor][0], ranges[name][1])
                narrowed.append(True)
        if not any(narrowed):
            return ranges
    raise AssertionError("the intervals did not settle")


def _narrow(ranges: dict[str, tuple[float, float]], total: str, parts: Sequence[str]) -> bool:
    """total = sum(parts): the total from the parts' ranges, each part from the total's
    and the other parts'; True when a range narrowed."""
    narrowed = False
    for name in (total, *parts):
        if name == total:
            new = (sum(ranges[p][0] for p in parts), sum(ranges[p][1] for p in parts))
        else:
            others = [p for p in parts if p != name]
            new = (ranges[total][0] - sum(ranges[p][1] for p in others),
                   ranges[total][1] - sum(ranges[p][0] for p in others))  # fmt: skip
        old = ranges[name]
        got = (max(old[0], new[0]), min(old[1], new[1]))
        if got != old:
            ranges[name], narrowed = got, True
    return narrowed

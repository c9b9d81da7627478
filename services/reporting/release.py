"""A report's shareable figures (`share=true`, `--share`): the report as read, with every
count from 1 to 10 shown as `"<11"` and, where counts add up to another, more hidden as
`">10"` (or the total) so that no `"<11"` can be worked out from the rest; a share or
quantile of a hidden count left out. The rule is services/reporting/suppression.py's;
this module says which counts of a report add up to which:

- overdoses: non-fatal and fatal to the total; each month's or week's non-fatal and
  fatal to its overdoses; the months' or weeks' overdoses, non-fatal and fatal to the
  period's; new and known persons to the distinct persons;
- the reports by source and by agency to the number of reports: the total when they add
  up to it (no incident had two reports), else a number not shown but at least the
  total; each source's to the agencies that sent only that source;
- cases opened by kind and (with clinical measures) outcomes to the cases of every kind
  (not shown); the contact-time bins and the teams' contacted to the cases contacted,
  the bins below 72 h to what the 72 h share gives (the share times the overdose cases)
  while it is shown, and that with the later bins to the cases contacted (else the
  cases contacted less it and all later bins but one would give that one); treatment
  referrals by kind to the cases referred (as the sources);
- one figure shown twice is one count: the funnel's events, persons, cases, attempted
  and contacted are the total, the distinct persons, the overdose cases and the cases
  attempted and contacted; the `n` of hours to the first attempt or contact, of a team,
  the cases attempted, contacted, the team's contacted.

A group is used only when its counts do add up (a relation that does not hold tells a
reader nothing exact). Breakdowns that add up to no figure of the report (referrals by
type, services, needs, barriers, rejected records, first contacts per month or week)
and differences between nested figures (cases less those attempted) are left to the
primary rule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.report import ProgramReport
from services.reporting.suppression import Count, Group, Kind, protect_all, reveals_small

Path = tuple[str | int, ...]
NOT_COUNTS = frozenset({"from_hours", "to_hours"})  # a bin's bounds
EARLY_HOURS = 72  # the bins that end by 72 h: the 72 h share's


@dataclass(frozen=True)
class Unshown:
    """What the report read that it does not show and the rule needs."""

    within_72h: int  # the parts of the two contact shares
    within_window: int
    agency_sources: Mapping[str, frozenset[str]]  # the sources each agency sent


class _Sheet:
    """The report's counts by where they stand in its JSON."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.cells = {path: Count.cell(value) for path, value in _counts(data, ())}

    def at(self, *path: str | int) -> Count:
        return self.cells[path]

    def named(self, *path: str | int) -> list[tuple[str, Count]]:
        rows = _get(self.data, path)
        return [(row["name"], self.at(*path, i, "count")) for i, row in enumerate(rows)]

    def rows(self, *path: str | int) -> list[Count]:
        return [count for _, count in self.named(*path)]

    def each(self, key: str, field: str) -> list[Count]:
        return [self.at(key, i, field) for i in range(len(self.data[key]))]


def for_release(report: ProgramReport, unshown: Unshown) -> ProgramReport:
    """`report` (read with every count as it is) as shareable figures."""
    data = report.model_dump()
    sheet = _Sheet(data)
    w72 = _early_contacts(sheet, unshown)
    groups = _overdose_groups(sheet, unshown) + _case_groups(sheet, w72)
    protect_all(g for g in groups if g[0].value == sum(p.value for p in g[1]))
    for path, count in sheet.cells.items():
        _put(data, path, count.shown)
    _leave_out(sheet, unshown, w72)
    data["share"] = True
    return ProgramReport.model_validate(data)


def _overdose_groups(s: _Sheet, unshown: Unshown) -> list[Group]:
    o = "overdoses"
    total, non_fatal, fatal = s.at(o, "total"), s.at(o, "non_fatal"), s.at(o, "fatal")
    groups: list[Group] = [
        (total, [non_fatal, fatal]),
        (s.at(o, "distinct_persons"), [s.at(o, "persons_new"), s.at(o, "persons_known")]),
    ]
    points = zip(s.each("series", "overdoses"), s.each("series", "non_fatal"),
                 s.each("series", "fatal"), strict=True)  # fmt: skip
    for overdoses, nf, f in points:
        groups.append((overdoses, [nf, f]))
    groups += [(total, s.each("series", "overdoses")), (non_fatal, s.each("series", "non_fatal")),
               (fatal, s.each("series", "fatal"))]  # fmt: skip
    sources, agencies = s.named(o, "by_source"), s.named(o, "by_agency")
    reports = _whole(total, [c for _, c in sources])
    groups += [(reports, [c for _, c in sources]), (reports, [c for _, c in agencies])]
    sent = unshown.agency_sources
    for source, count in sources:
        mine = [a for a, _ in agencies if source in sent.get(a, frozenset())]
        if all(sent.get(a) == {source} for a in mine):  # agencies that sent only it
            groups.append((count, [c for a, c in agencies if a in mine]))
    return groups


def _case_groups(s: _Sheet, w72: Count) -> list[Group]:
    c = "cases"
    funnel = {step["step"]: s.at(c, "funnel", i, "count")
              for i, step in enumerate(s.data[c]["funnel"])}  # fmt: skip
    opened = dict(s.named(c, "opened_by_kind"))
    attempted, contacted = s.at(c, "attempted"), s.at(c, "contacted")
    same = [
        (s.at("overdoses", "total"), funnel["events"]),
        (s.at("overdoses", "distinct_persons"), funnel["persons"]),
        (opened["overdose"], funnel["cases"]),
        (attempted, funnel["attempted"]), (contacted, funnel["contacted"]),
        (attempted, s.at(c, "to_first_attempt", "n")),
        (contacted, s.at(c, "to_first_contact", "n")),
    ]  # fmt: skip
    teams = s.each("by_team", "contacted")
    same += [(t, s.at("by_team", i, "to_first_contact", "n")) for i, t in enumerate(teams)]
    groups: list[Group] = [(one, [other]) for one, other in same]
    every_kind = Count.unshown(sum(n.value for n in opened.values()))
    groups.append((every_kind, list(opened.values())))
    bins, early = s.each("contact_time_distribution", "count"), _early_bins(s)
    later = [b for b in bins if all(b is not e for e in early)]
    groups += [(contacted, bins), (contacted, teams), (w72, early), (contacted, [w72, *later])]
    if s.data["clinical_figures"] is not None:
        k = "clinical_figures"
        groups.append((every_kind, s.rows(k, "outcomes")))
        kinds = s.rows(k, "treatment_by_kind")
        groups.append((_whole(s.at(k, "referred"), kinds), kinds))
    return groups


def _whole(shown: Count, parts: list[Count]) -> Count:
    """What `parts` add up to: the `shown` count when they add up to it, else a count not
    shown that is at least that one."""
    found = sum(p.value for p in parts)
    return shown if found == shown.value else Count.unshown(found, floor=shown)


def _early_bins(s: _Sheet) -> list[Count]:
    bins = s.data["contact_time_distribution"]
    return [
        s.at("contact_time_distribution", i, "count")
        for i, b in enumerate(bins)
        if b["to_hours"] is not None and b["to_hours"] <= EARLY_HOURS
    ]


def _early_contacts(s: _Sheet, unshown: Unshown) -> Count:
    """The count the 72 h share gives a reader (taken as the bins below 72 h: a first
    contact at 72 h sharp is in both the share and the 72-168 h bin): shown while the
    share is."""
    cases = s.at("cases", "funnel", _step(s, "cases"), "count").value
    left_out = cases == 0 or reveals_small(unshown.within_72h, cases)
    return Count(sum(b.value for b in _early_bins(s)), Kind.SHARE, hidden=left_out)


def _leave_out(s: _Sheet, unshown: Unshown, w72: Count) -> None:
    """Shares and quantiles of hidden counts left out."""
    c = s.data["cases"]
    cases = s.at("cases", "funnel", _step(s, "cases"), "count")
    for key, part, gone in (
        ("contacted_within_72h_share", unshown.within_72h, w72.hidden),
        ("contacted_within_window_share", unshown.within_window, False),
    ):
        if gone or cases.hidden or reveals_small(part, cases.value):
            c[key] = None
    paths: list[Path] = [("cases", "to_first_attempt"), ("cases", "to_first_contact")]
    paths += [("by_team", i, "to_first_contact") for i in range(len(s.data["by_team"]))]
    for path in paths:
        if s.at(*path, "n").hidden:
            _get(s.data, path).update(median_hours=None, p90_hours=None)


def _step(s: _Sheet, name: str) -> int:
    return next(i for i, step in enumerate(s.data["cases"]["funnel"]) if step["step"] == name)


def _counts(value: Any, path: Path) -> list[tuple[Path, int]]:
    """Every count of a dumped report, by its path: the ints, less a bin's bounds."""
    if isinstance(value, dict):
        return [
            found
            for key, inner in value.items()
            if key not in NOT_COUNTS
            for found in _counts(inner, (*path, key))
        ]
    if isinstance(value, list):
        return [found for i, inner in enumerate(value) for found in _counts(inner, (*path, i))]
    if isinstance(value, int) and not isinstance(value, bool):
        return [(path, value)]
    return []


def _get(data: Any, path: Path) -> Any:
    for key in path:
        data = data[key]
    return data


def _put(data: Any, path: Path, value: Any) -> None:
    _get(data, path[:-1])[path[-1]] = value

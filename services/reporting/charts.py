"""The report's pictures: the funnel, overdoses and first contacts per month or week, the
time to the first contact as a distribution, and the contact times by team; each an SVG
drawn by the server (services/reporting/svg.py) with the numbers it shows as the rows of
a table the page prints under it.

Readable in black and white: every series has its own fill and pattern, named in a
legend, and each bar carries its number. A suppressed cell (`"<11"`, a shareable report)
is an empty hatched bar with a dashed edge as long as the most it can be (10), labelled
`<11`, never with a number; a count hidden so that no `<11` can be worked out (`">10"`)
is a dotted bar with a dashed edge as long as the least it can be (11), labelled `>10`;
a median or percentile of a hidden count is not drawn. Each chart has a title and axis
labels in the picture, and a `<title>` and a `<desc>` (the numbers in words) for a
screen reader."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from math import ceil
from typing import TYPE_CHECKING

from schemas.report import SUPPRESSED, WITHHELD, Cell, HistogramBin, ProgramReport, ReportBy
from services.reporting.svg import empty_figure_note, render

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH_IN = 5.6  # scaled to the page's width; its 11 pt text stays legible on a phone, in print
SUPPRESSED_BAR = 10  # a suppressed count is at most this
SUPPRESSED_HATCH = "///"
WITHHELD_BAR = 11  # a count hidden for another's sake is at least this
WITHHELD_HATCH = ".."
STEP_WORDS = {
    "events": "Overdose reports",
    "persons": "Persons",
    "cases": "Cases opened",
    "attempted": "Attempted",
    "contacted": "Contacted",
    "referred": "Referred to treatment",
    "entered": "Entered treatment",
    "retained_30d": "Retained 30 days",
    "retained_90d": "Retained 90 days",
}
NO_TEAM = "No team recorded"
SUPPRESSED_WORDS = "<11: a count from 1 to 10, not shown"
WITHHELD_WORDS = ">10: hidden so that no <11 can be worked out"


@dataclass(frozen=True)
class Chart:
    """One picture and its numbers (`columns`, `rows`) for the table under it."""

    key: str
    title: str
    svg: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Look:
    """How one series of bars is drawn, and its name in the legend."""

    label: str
    fill: str
    hatch: str | None = None


FUNNEL = Look("count", "#b0b0b0")
NON_FATAL = Look("non-fatal", "#b0b0b0")
FATAL = Look("fatal", "#ffffff", "xx")
CONTACTS = Look("first contacts", "#6e6e6e")
CASES = Look("cases contacted", "#b0b0b0")
MEDIAN = Look("median", "#b0b0b0")
P90 = Look("90th percentile", "#ffffff", "\\\\")


def cell_text(cell: Cell) -> str:
    return str(cell)


def is_hidden(cell: Cell) -> bool:
    return cell in (SUPPRESSED, WITHHELD)


def _length(cell: Cell) -> int:
    if cell == SUPPRESSED:
        return SUPPRESSED_BAR
    return WITHHELD_BAR if cell == WITHHELD else int(cell)


def hours_text(hours: float | None, n: Cell) -> str:
    """Hours as the tables print them: one decimal; why there is no figure otherwise."""
    if hours is not None:
        return f"{hours:.1f}"
    return "not shown" if is_hidden(n) else "—"


def share_text(share: float | None, suppressed: bool) -> str:
    if share is not None:
        return f"{share * 100:.0f}\N{NO-BREAK SPACE}%"
    return "not shown" if suppressed else "—"


def _bars(
    axes: Axes,
    positions: Sequence[float],
    cells: Sequence[Cell],
    look: Look,
    *,
    horizontal: bool = False,
    thickness: float = 0.8,
    numbers: bool = True,
) -> None:
    """Bars of `cells` with their numbers (`numbers=False`: only the `<11`, `>10` labels)."""
    lengths = [_length(c) for c in cells]
    if horizontal:
        bars = axes.barh(positions, lengths, height=thickness, color=look.fill, edgecolor="k")
    else:
        bars = axes.bar(positions, lengths, width=thickness, color=look.fill, edgecolor="k")
    for patch, cell in zip(bars.patches, cells, strict=True):
        if is_hidden(cell):
            patch.set_facecolor("white")
            patch.set_hatch(SUPPRESSED_HATCH if cell == SUPPRESSED else WITHHELD_HATCH)
            patch.set_linestyle("--")
        elif look.hatch:
            patch.set_hatch(look.hatch)
    labels = [cell_text(c) if numbers or is_hidden(c) else "" for c in cells]
    vertical = not horizontal and not numbers
    texts = axes.bar_label(
        bars, labels=labels, padding=3, fontsize=9.5 if vertical else 10.5,
        rotation=90 if vertical else 0,
    )  # fmt: skip
    for n, text in enumerate(texts):
        text.set_gid(f"value-{look.label.replace(' ', '-')}-{n}")


def _legend(figure: Figure, looks: Sequence[Look], cells: Sequence[Cell]) -> None:
    """Under the chart: each series' pattern, and a hidden bar's when one is drawn."""
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=k.fill, edgecolor="k", hatch=k.hatch, label=k.label) for k in looks]
    for marker, hatch, words in ((SUPPRESSED, SUPPRESSED_HATCH, SUPPRESSED_WORDS),
                                 (WITHHELD, WITHHELD_HATCH, WITHHELD_WORDS)):  # fmt: skip
        if marker in cells:
            handles.append(
                Patch(facecolor="white", edgecolor="k", hatch=hatch, linestyle="--", label=words)
            )
    if handles:
        figure.legend(
            handles=handles, loc="outside lower center", ncols=min(len(handles), 2),
            frameon=False,
        )  # fmt: skip


def _title(figure: Figure, title: str) -> None:
    figure.suptitle(title, x=0.01, ha="left", fontsize=13, fontweight="bold")


def _counts_axis(axes: Axes, lengths: Sequence[int], *, horizontal: bool = False) -> None:
    """Whole numbers from 0, with room past the longest bar for its label."""
    from matplotlib.ticker import MaxNLocator

    top = max([*lengths, 1]) * 1.18
    axis = axes.xaxis if horizontal else axes.yaxis
    axis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    if horizontal:
        axes.set_xlim(0, top)
    else:
        axes.set_ylim(0, top)


def _words(rows: Sequence[Sequence[str]]) -> str:
    return "; ".join(f"{row[0]}: " + ", ".join(row[1:]) for row in rows) or "no figures"


def funnel_chart(report: ProgramReport) -> Chart:
    steps = report.cases.funnel
    title = "From overdose reports to treatment" if report.clinical else "From reports to contact"
    rows = tuple((STEP_WORDS.get(s.step, s.step), cell_text(s.count)) for s in steps)

    def draw(figure: Figure) -> None:
        if not steps:
            return empty_figure_note(figure, title, "No figures in this period")
        axes = figure.subplots()
        cells = [s.count for s in steps]
        positions = list(range(len(steps)))
        _bars(axes, positions, cells, FUNNEL, horizontal=True, thickness=0.7)
        axes.set_yticks(positions, [r[0] for r in rows])
        axes.invert_yaxis()
        _counts_axis(axes, [_length(c) for c in cells], horizontal=True)
        axes.set_xlabel("count in the period")
        _title(figure, title)
        _legend(figure, [], cells)

    size = (WIDTH_IN, 0.42 * max(len(steps), 2) + 1.4)
    svg = render("funnel", title, "Horizontal bars, one a step. " + _words(rows), size, draw)
    return Chart("funnel", title, svg, ("Step", "Count"), rows)


def period_label(start: date, by: ReportBy) -> str:
    return start.strftime("%b %Y") if by == ReportBy.MONTH else start.strftime("%d %b %Y")


def series_chart(report: ProgramReport) -> Chart:
    points = report.series
    unit = "month" if report.by == ReportBy.MONTH else "week"
    title = f"Overdoses and first contacts per {unit}"
    labels = [period_label(p.start, report.by) for p in points]
    rows = tuple(
        (label, cell_text(p.overdoses), cell_text(p.non_fatal), cell_text(p.fatal),
         cell_text(p.first_contacts))
        for label, p in zip(labels, points, strict=True)
    )  # fmt: skip

    def draw(figure: Figure) -> None:
        if not points:
            return empty_figure_note(figure, title, "No figures in this period")
        top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
        x = list(range(len(points)))
        numbers = len(points) <= 13
        overdoses = [p.non_fatal for p in points] + [p.fatal for p in points]
        _bars(top, [i - 0.2 for i in x], overdoses[: len(x)], NON_FATAL, thickness=0.4,
              numbers=numbers)  # fmt: skip
        _bars(top, [i + 0.2 for i in x], overdoses[len(x) :], FATAL, thickness=0.4,
              numbers=numbers)  # fmt: skip
        contacts = [p.first_contacts for p in points]
        _bars(bottom, x, contacts, CONTACTS, thickness=0.6, numbers=numbers)
        _counts_axis(top, [_length(c) for c in overdoses])
        _counts_axis(bottom, [_length(c) for c in contacts])
        _title(figure, title)
        top.set_ylabel("overdoses")
        bottom.set_ylabel("first contacts")
        every = ceil(len(points) / 12)
        shown = [label if i % every == 0 else "" for i, label in enumerate(labels)]
        slanted = len(points) > 4
        bottom.set_xticks(
            x, shown, rotation=35 if slanted else 0, ha="right" if slanted else "center"
        )
        bottom.set_xlabel(f"{unit} (first day)")
        _legend(figure, [NON_FATAL, FATAL], overdoses + contacts)

    words = "Bars per period: overdoses (all, non-fatal, fatal) and first contacts. "
    svg = render("series", title, words + _words(rows), (WIDTH_IN, 4.8), draw)
    columns = (unit.capitalize(), "Overdoses", "Non-fatal", "Fatal", "First contacts")
    return Chart("series", title, svg, columns, rows)


def bin_label(b: HistogramBin) -> str:
    if b.to_hours is None:
        return f"{b.from_hours} h +"
    return f"{b.from_hours}\N{EN DASH}{b.to_hours} h"


def contact_time_chart(report: ProgramReport) -> Chart:
    bins = report.contact_time_distribution
    title = "Time from the overdose to the first contact"
    rows = tuple((bin_label(b), cell_text(b.count)) for b in bins)

    def draw(figure: Figure) -> None:
        if not bins:
            return empty_figure_note(figure, title, "No contacts in this period")
        axes = figure.subplots()
        cells = [b.count for b in bins]
        x = list(range(len(bins)))
        _bars(axes, x, cells, CASES, thickness=0.92)
        _counts_axis(axes, [_length(c) for c in cells])
        slanted = len(bins) > 6
        axes.set_xticks(x, [r[0] for r in rows], rotation=35 if slanted else 0,
                        ha="right" if slanted else "center")  # fmt: skip
        for i, b in enumerate(bins):
            if b.from_hours == 72 and i:
                axes.axvline(i - 0.5, color="k", linestyle=":", linewidth=1.5)
                axes.annotate("72 h", (i - 0.5, 1.0), xycoords=("data", "axes fraction"),
                              xytext=(0, 3), textcoords="offset points", ha="center",
                              va="bottom")  # fmt: skip
        axes.set_xlabel("hours after the overdose")
        axes.set_ylabel("cases contacted")
        _title(figure, title)
        _legend(figure, [], cells)

    words = "Bars, one a span of hours, of cases by their first contact. "
    svg = render("contact-times", title, words + _words(rows), (WIDTH_IN, 3.6), draw)
    return Chart("contact-times", title, svg, ("Hours after the overdose", "Cases"), rows)


def team_chart(report: ProgramReport, team_names: Mapping[str, str] | None = None) -> Chart:
    teams = report.by_team
    names = team_names or {}
    title = "Hours to the first contact, by team"
    rows = tuple(
        (_team_name(t.team_id, names), cell_text(t.contacted),
         hours_text(t.to_first_contact.median_hours, t.to_first_contact.n),
         hours_text(t.to_first_contact.p90_hours, t.to_first_contact.n))
        for t in teams
    )  # fmt: skip

    def draw(figure: Figure) -> None:
        if not teams:
            return empty_figure_note(figure, title, "No contacts in this period")
        axes = figure.subplots()
        y = list(range(len(teams)))
        longest = 1.0
        for i, t in enumerate(teams):
            figures = [(MEDIAN, t.to_first_contact.median_hours, -0.2),
                       (P90, t.to_first_contact.p90_hours, 0.2)]  # fmt: skip
            for look, hours, shift in figures:
                if hours is None:
                    continue
                longest = max(longest, hours)
                bar = axes.barh([i + shift], [hours], height=0.4, color=look.fill,
                                edgecolor="k", hatch=look.hatch)  # fmt: skip
                label = axes.bar_label(bar, labels=[f"{hours:.1f} h"], padding=3, fontsize=10.5)
                label[0].set_gid(f"value-{look.label.replace(' ', '-')}-{i}")
            if t.to_first_contact.median_hours is None:
                axes.text(0, i, f"  {_unmeasured(t.contacted)}", va="center", fontsize=10.5)
        axes.set_yticks(y, [f"{r[0]}\n{r[1]} contacted" for r in rows])
        axes.set_ylim(len(teams) - 0.4, -0.6)  # the first team on top
        axes.set_xlim(0, longest * 1.25)
        if all(t.to_first_contact.median_hours is None for t in teams):
            axes.set_xticks([])  # nothing measured: no scale to read
        axes.set_xlabel("hours from the overdose to the first contact")
        _title(figure, title)
        _legend(figure, [MEDIAN, P90], [])

    size = (WIDTH_IN, 0.75 * max(len(teams), 1) + 1.6)
    words = "Bars per team: median and 90th percentile of hours. "
    svg = render("teams", title, words + _words(rows), size, draw)
    return Chart("teams", title, svg, ("Team", "Contacted", "Median (h)", "90th pct (h)"), rows)


def _team_name(team_id: str, names: Mapping[str, str]) -> str:
    return names.get(team_id) or (NO_TEAM if team_id == "(none)" else team_id)


def _unmeasured(contacted: Cell) -> str:
    if contacted == SUPPRESSED:
        return "not shown: fewer than 11 contacted"
    return "not shown: it would reveal a <11" if contacted == WITHHELD else "no contact measured"


def report_charts(
    report: ProgramReport, team_names: Mapping[str, str] | None = None
) -> dict[str, Chart]:
    """Every chart of the report, by key."""
    drawn = (funnel_chart(report), series_chart(report), contact_time_chart(report),
             team_chart(report, team_names))  # fmt: skip
    return {chart.key: chart for chart in drawn}

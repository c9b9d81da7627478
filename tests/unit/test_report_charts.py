"""The report's charts (services/reporting/charts.py) from reports built by hand: each is
valid SVG an HTML page can inline under the API's CSP (no style, no script, ids of its
own), with its title, axis labels and numbers as text, and a table of the same numbers;
a suppressed cell is a hatched bar labelled <11, never a number from 1 to 10, one hidden
for another's sake a dotted bar labelled >10."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from defusedxml.ElementTree import fromstring

from schemas.report import (
    DEFINITIONS,
    SUPPRESSED,
    WITHHELD,
    CaseFigures,
    Cell,
    ClinicalFigures,
    FunnelStep,
    HistogramBin,
    NamedCount,
    OverdoseFigures,
    ProgramReport,
    Quantiles,
    RejectionRow,
    RepeatFigures,
    ReportBy,
    SeriesPoint,
    TeamContactTimes,
    TextFigures,
)
from services.reporting.charts import (
    Chart,
    contact_time_chart,
    funnel_chart,
    report_charts,
    series_chart,
    team_chart,
)

SVG = "{http://www.w3.org/2000/svg}"
FUNNEL = {"events": 113, "persons": 80, "cases": 71, "attempted": 60, "contacted": 35,
          "referred": 20, "entered": 14, "retained_30d": 9, "retained_90d": 5}  # fmt: skip
MONTHS = [
    (date(2026, 1, 1), 40, 3, 12),
    (date(2026, 2, 1), 35, 0, 15),
    (date(2026, 3, 1), 38, 8, 7),
]  # fmt: skip  start, overdoses, fatal, first contacts
BINS = [(0, 24, 12), (24, 48, 9), (48, 72, 7), (72, 96, 4), (96, 168, 2), (168, None, 1)]
TEAMS = [("day", 25, 20.5, 70.25), ("evening", 8, 30.0, 90.0), ("(none)", 2, 50.0, 60.0)]


def shown(n: int, share: bool) -> Cell:
    return SUPPRESSED if share and 1 <= n <= 10 else n


def quantiles(n: int, median: float, p90: float, share: bool) -> Quantiles:
    hidden = share and 1 <= n <= 10
    return Quantiles(n=shown(n, share), median_hours=None if hidden else median,
                     p90_hours=None if hidden else p90)  # fmt: skip


def report(
    *, share: bool = False, clinical: bool = True, months: list[tuple[date, int, int, int]] = MONTHS
) -> ProgramReport:
    def s(n: int) -> Cell:
        return shown(n, share)

    def named(*rows: tuple[str, int]) -> list[NamedCount]:
        return [NamedCount(name=name, count=s(n)) for name, n in rows]

    steps = [(k, v) for k, v in FUNNEL.items() if clinical or k not in
             {"referred", "entered", "retained_30d", "retained_90d"}]  # fmt: skip
    return ProgramReport(
        program_id="huntington", period_from=months[0][0], period_to=date(2026, 3, 31),
        by=ReportBy.MONTH if months is MONTHS else ReportBy.WEEK, zone="America/New_York",
        generated_at=datetime(2026, 4, 2, 12, tzinfo=UTC), share=share, clinical=clinical,
        definitions=DEFINITIONS,
        overdoses=OverdoseFigures(
            total=s(113), non_fatal=s(102), fatal=s(11), by_source=named(("ems", 90)),
            by_agency=named(("cabell-ems", 90)), distinct_persons=s(80), persons_new=s(70),
            persons_known=s(10),
        ),
        cases=CaseFigures(
            opened_by_kind=named(("overdose", 71)), attempted=s(60), contacted=s(35),
            funnel=[FunnelStep(step=k, count=s(v)) for k, v in steps],  # type: ignore[arg-type]
            contacted_within_72h_share=0.41, contacted_within_window_share=0.38,
            to_first_attempt=quantiles(60, 10, 48, share),
            to_first_contact=quantiles(35, 22, 80, share),
        ),
        clinical_figures=ClinicalFigures(
            outcomes=[], referrals_by_type=[], treatment_by_kind=[], referred=s(20),
            entered=s(14), retained_30d=s(9), retained_90d=s(5), naloxone_kits=s(30),
            services_left=[], needs_top=[], barriers_top=[],
        ) if clinical else None,
        repeats=RepeatFigures(persons_two_or_more=s(12), within_30d_after_contact=s(3),
                              within_90d_after_contact=s(6)),
        texts=TextFigures(sent=s(140), delivered=s(130), failed=s(10), opted_out=s(2)),
        rejections=[RejectionRow(agency_id="hpd", reason="no time", count=s(3))],
        series=[SeriesPoint(start=d, overdoses=s(o), non_fatal=s(o - f), fatal=s(f),
                            first_contacts=s(c)) for d, o, f, c in months],
        contact_time_distribution=[HistogramBin(from_hours=a, to_hours=b, count=s(n))
                                   for a, b, n in BINS],
        by_team=[TeamContactTimes(team_id=t, contacted=s(n),
                                  to_first_contact=quantiles(n, m, p, share))
                 for t, n, m, p in TEAMS],
    )  # fmt: skip


def parsed(chart: Chart) -> object:
    root = fromstring(chart.svg)
    assert root.tag == f"{SVG}svg"
    return root


def texts(chart: Chart) -> list[str]:
    root = fromstring(chart.svg)
    return [t.strip() for t in ("".join(e.itertext()) for e in root.iter(f"{SVG}text")) if t]


def value_labels(chart: Chart) -> list[str]:
    """The number drawn at each bar (matplotlib groups each under an id `...value-...`)."""
    root = fromstring(chart.svg)
    found = []
    for group in root.iter(f"{SVG}g"):
        if "-value-" in group.get("id", ""):
            found.append("".join(group.itertext()).strip())
    return found


CHARTS: dict[str, Callable[[ProgramReport], Chart]] = {
    "funnel": funnel_chart, "series": series_chart, "contact-times": contact_time_chart,
    "teams": team_chart,
}  # fmt: skip


@pytest.mark.parametrize("key", sorted(CHARTS))
def test_each_chart_is_inline_svg_with_its_title_and_labels_and_nothing_the_csp_blocks(
    key: str,
) -> None:
    chart = CHARTS[key](report())
    root = parsed(chart)
    assert chart.key == key
    assert root.get("role") == "img"  # type: ignore[attr-defined]
    assert root.get("aria-labelledby") == f"{key}-title {key}-desc"  # type: ignore[attr-defined]
    title = root.find(f"{SVG}title")  # type: ignore[attr-defined]
    assert title is not None and title.text == chart.title
    assert root.get("viewBox") and root.get("width") is None  # type: ignore[attr-defined]
    assert chart.title in texts(chart)  # drawn in the picture too, as text
    for forbidden in ("style=", "<style", "<script", "xlink:", "ns0:", "<image"):
        assert forbidden not in chart.svg, forbidden
    ids = re.findall(r'\bid="([^"]+)"', chart.svg)
    assert ids and all(i.startswith(f"{key}-") for i in ids)
    assert len(ids) == len(set(ids))
    for ref in re.findall(r"url\(#([^)]+)\)|href=\"#([^\"]+)\"", chart.svg):
        assert (ref[0] or ref[1]) in ids


def test_the_funnel_draws_each_step_with_its_count_and_the_same_table() -> None:
    chart = funnel_chart(report())
    drawn = texts(chart)
    for words in ("Overdose reports", "Contacted", "Entered treatment", "Retained 90 days"):
        assert words in drawn
    assert "count in the period" in drawn
    assert value_labels(chart) == [str(v) for v in FUNNEL.values()]
    assert chart.columns == ("Step", "Count")
    assert [r[1] for r in chart.rows] == [str(v) for v in FUNNEL.values()]
    without = funnel_chart(report(clinical=False))
    assert [r[0] for r in without.rows] == [
        "Overdose reports",
        "Persons",
        "Cases opened",
        "Attempted",
        "Contacted",
    ]
    assert "Entered treatment" not in texts(without)


def test_the_series_draws_fatal_and_non_fatal_and_first_contacts_per_month() -> None:
    chart = series_chart(report())
    drawn = texts(chart)
    for words in ("overdoses", "first contacts", "non-fatal", "fatal", "Jan 2026", "Mar 2026",
                  "month (first day)"):  # fmt: skip
        assert words in drawn, words
    non_fatal = [str(o - f) for _, o, f, _ in MONTHS]
    fatal = [str(f) for _, _, f, _ in MONTHS]
    contacts = [str(c) for *_, c in MONTHS]
    assert value_labels(chart) == non_fatal + fatal + contacts
    assert chart.rows[0] == ("Jan 2026", "40", "37", "3", "12")


def test_a_long_weekly_series_keeps_every_number_in_its_table_and_the_picture_readable() -> None:
    weeks = [(date(2025, 1, 6) + timedelta(weeks=i), 20 + i % 5, i % 3, 11 + i % 4)
             for i in range(53)]  # fmt: skip
    chart = series_chart(report(months=weeks))
    assert len(chart.rows) == 53
    assert chart.rows[0][0] == "06 Jan 2025" and chart.columns[0] == "Week"
    assert value_labels(chart) == []  # too many bars for numbers: the table has them
    assert 4 <= sum(1 for t in texts(chart) if re.fullmatch(r"\d\d \w{3} \d{4}", t)) <= 13
    shared = series_chart(report(months=weeks, share=True))
    small_fatal = sum(1 for _, _, f, _ in weeks if f)
    assert value_labels(shared) == [SUPPRESSED] * small_fatal  # still marked, never a number


def test_the_distribution_of_contact_times_labels_its_bins_and_the_72_hour_mark() -> None:
    chart = contact_time_chart(report())
    drawn = texts(chart)
    for words in ("0\N{EN DASH}24 h", "72\N{EN DASH}96 h", "168 h +", "hours after the overdose",
                  "cases contacted", "72 h"):  # fmt: skip
        assert words in drawn, words
    assert value_labels(chart) == [str(n) for *_, n in BINS]
    assert [r[1] for r in chart.rows] == [str(n) for *_, n in BINS]


def test_the_teams_chart_gives_median_and_90th_percentile_hours_per_team() -> None:
    chart = team_chart(report(), {"day": "Day team"})
    drawn = " ".join(texts(chart))
    assert "Day team" in drawn and "evening" in drawn and "No team recorded" in drawn
    assert "median" in drawn and "90th percentile" in drawn
    assert value_labels(chart) == ["20.5 h", "70.2 h", "30.0 h", "90.0 h", "50.0 h", "60.0 h"]
    assert chart.rows[0] == ("Day team", "25", "20.5", "70.2")


@pytest.mark.parametrize("key", sorted(CHARTS))
def test_a_suppressed_cell_is_a_hatched_bar_labelled_below_11_never_a_number(key: str) -> None:
    chart = CHARTS[key](report(share=True))
    labels = value_labels(chart)
    small = {str(n) for n in range(1, 11)}
    assert not small & set(labels), labels
    for row in chart.rows:
        assert not small & set(row[1:]), row
    if key == "teams":  # quantiles of fewer than 11 contacted are not drawn at all
        assert labels == ["20.5 h", "70.2 h"]
        assert "not shown: fewer than 11 contacted" in texts(chart)
        return
    assert SUPPRESSED in labels
    assert "<11: a count from 1 to 10, not shown" in texts(chart)
    hatched = re.findall(r'fill="url\(#[^)]+\)"[^>]*stroke-dasharray', chart.svg)
    assert len(hatched) >= labels.count(SUPPRESSED), "each <11 bar is hatched, edge dashed"


def test_a_count_hidden_for_anothers_sake_is_a_dotted_bar_labelled_above_10() -> None:
    shared = report(share=True)
    point = shared.series[0].model_copy(update={"non_fatal": WITHHELD})  # 37 of 40, fatal 3
    team = shared.by_team[0].model_copy(
        update={"contacted": WITHHELD, "to_first_contact": Quantiles(n=WITHHELD)}
    )
    hidden = shared.model_copy(update={"series": [point, *shared.series[1:]], "by_team": [team]})
    series = series_chart(hidden)
    assert value_labels(series)[0] == WITHHELD and series.rows[0][2] == WITHHELD
    assert ">10: hidden so that no <11 can be worked out" in texts(series)
    dotted = re.findall(r'fill="url\(#[^)]+\)"[^>]*stroke-dasharray', series.svg)
    assert len(dotted) >= value_labels(series).count(SUPPRESSED) + 1
    teams = team_chart(hidden)
    assert teams.rows[0][1:] == (WITHHELD, "not shown", "not shown")
    assert "not shown: it would reveal a <11" in texts(teams)


def test_no_figures_still_draws_a_titled_chart_saying_so() -> None:
    empty = report().model_copy(update={"by_team": [], "contact_time_distribution": []})
    teams = team_chart(empty)
    assert "No contacts in this period" in texts(teams) and teams.title in texts(teams)
    assert contact_time_chart(empty).rows == ()


def test_the_report_has_its_four_charts_and_matplotlib_loads_only_when_one_is_drawn() -> None:
    assert list(report_charts(report())) == ["funnel", "series", "contact-times", "teams"]
    probe = ("import sys, services.reporting.charts; "
             "print('matplotlib' in sys.modules)")  # fmt: skip
    said = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert said.stdout.strip() == "False"

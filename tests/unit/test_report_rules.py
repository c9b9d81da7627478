"""The report's rules without a store: the small-cell rule of shareable figures (primary,
and complementary: no hidden count can be worked out, checked by tests/support_release.py
on groups of counts drawn by hypothesis), the period's days and buckets in the program's
zone, the default period, the quantiles, the words counted."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.report import SUPPRESSED, WITHHELD, ReportBy
from services.reporting import suppression
from services.reporting.period import MAX_DAYS, PeriodError, default_period, period_of
from services.reporting.spread import continuous_quantile, count_words
from services.reporting.suppression import Count, Kind
from tests.support_release import Equation, problems

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("count", "shown"), [(0, 0), (1, SUPPRESSED), (7, SUPPRESSED), (10, SUPPRESSED), (11, 11)]
)
def test_counts_from_1_to_10_are_suppressed_for_release(count: int, shown: object) -> None:
    assert suppression.Count.cell(count).shown == shown


def test_a_share_that_would_reveal_a_small_count_is_left_out() -> None:
    assert suppression.share_of(30, 90) == 0.3333 and not suppression.reveals_small(30, 90)
    assert suppression.reveals_small(5, 90)  # the numerator
    assert suppression.reveals_small(85, 90)  # the rest: 5
    assert suppression.reveals_small(4, 8)  # the denominator
    assert not suppression.reveals_small(0, 40) and not suppression.reveals_small(40, 40)
    assert suppression.share_of(5, 90) == 0.0556 and suppression.share_of(0, 0) is None


def test_quantiles_are_in_hours_with_two_decimals() -> None:
    many = suppression.quantiles(11, 20.004, 31.256)
    assert (many.n, many.median_hours, many.p90_hours) == (11, 20.0, 31.26)
    none = suppression.quantiles(0, None, None)
    assert (none.n, none.median_hours) == (0, None)


def protected(total: int | Count, *parts: int | Count) -> list[object]:
    """The group as shown after the complementary rule: [total, *parts]."""
    counts = [c if isinstance(c, Count) else Count.cell(c) for c in (total, *parts)]
    suppression.protect(counts[0], counts[1:])
    return [c.shown for c in counts]


def test_a_hidden_part_that_the_total_would_give_takes_the_next_smallest_with_it() -> None:
    assert protected(15, 14, 1) == [15, WITHHELD, SUPPRESSED]  # not fatal = 15 - 14
    assert protected(30, 25, 3, 2) == [30, WITHHELD, SUPPRESSED, SUPPRESSED]  # 3 + 2 = 5
    assert protected(40, 20, 6, 7, 7) == [40, 20] + [SUPPRESSED] * 3  # they add up to 20
    assert protected(53, 20, 30, 3) == [53, WITHHELD, 30, SUPPRESSED]  # the smallest shown
    assert protected(50, 20, 30) == [50, 20, 30]  # nothing small
    assert protected(5, 4, 1) == [SUPPRESSED] * 3  # the total is small too: 4 + 1 says nothing


def test_the_total_goes_when_the_bounds_would_still_give_a_hidden_count() -> None:
    assert protected(30, 10, 10, 10) == [WITHHELD] + [SUPPRESSED] * 3  # three 10s of 30
    assert protected(12, 11, 1) == [WITHHELD, WITHHELD, SUPPRESSED]  # >10 and <11 of 12: 11, 1
    assert protected(12, 11, 1, 0) == [WITHHELD, WITHHELD, SUPPRESSED, 0]  # zero stays
    assert protected(23, 12, 11) == [23, 12, 11]
    assert protected(12, Count(12, hidden=True)) == [WITHHELD, WITHHELD]  # hidden elsewhere


def test_a_total_the_report_does_not_show_is_known_only_as_far_as_it_can_be() -> None:
    assert protected(Count.unshown(15), 14, 1)[1:] == [14, SUPPRESSED]
    at_least_15 = Count.unshown(15, floor=Count.cell(15))  # 1 = R - 14 with R >= 15: 1 to 10
    assert protected(at_least_15, 14, 1)[1:] == [14, SUPPRESSED]
    at_least_25 = Count.unshown(25, floor=Count.cell(25))  # 10 = R - 15 with R >= 25: 10
    assert protected(at_least_25, 15, 10)[1:] == [WITHHELD, SUPPRESSED]


def test_a_count_one_group_gives_is_known_to_the_others() -> None:
    reports = Count.unshown(50)
    sources, agencies = [Count.cell(30), Count.cell(20)], [Count.cell(45), Count.cell(5)]
    suppression.protect_all([(reports, sources), (reports, agencies)])
    assert [c.shown for c in sources + agencies] == [30, 20, WITHHELD, SUPPRESSED]
    # nothing left to hide where it is known: hide where it was learned
    reports = Count.unshown(12)
    sources, agencies = [Count.cell(12), Count.cell(0)], [Count(11, hidden=True), Count.cell(1)]
    suppression.protect_all([(reports, sources), (reports, agencies)])
    assert [c.shown for c in sources + agencies] == [WITHHELD, 0, WITHHELD, SUPPRESSED]


def series_groups(buckets: list[tuple[int, int]]) -> tuple[dict[str, int], list[Equation]]:
    """A period's overdoses: each bucket's non-fatal and fatal and their totals."""
    values = {"T": sum(a + b for a, b in buckets), "NF": sum(a for a, _ in buckets),
              "F": sum(b for _, b in buckets)}  # fmt: skip
    equations: list[Equation] = [("T", ["NF", "F"])]
    for i, (nf, f) in enumerate(buckets):
        values |= {f"o{i}": nf + f, f"nf{i}": nf, f"f{i}": f}
        equations.append((f"o{i}", [f"nf{i}", f"f{i}"]))
    for total, key in (("T", "o"), ("NF", "nf"), ("F", "f")):
        equations.append((total, [f"{key}{i}" for i in range(len(buckets))]))
    return values, equations


def released(
    values: dict[str, int], equations: list[Equation], unshown: set[str],
    floors: dict[str, str] | None = None,
) -> dict:  # fmt: skip
    counts = {n: Count.unshown(v) if n in unshown else Count.cell(v) for n, v in values.items()}
    for name, floor in (floors or {}).items():
        counts[name].floor = counts[floor]
    suppression.protect_all((counts[t], [counts[p] for p in parts]) for t, parts in equations)
    return {n: None if n in unshown else c.shown for n, c in counts.items()}


COUNT = st.one_of(st.integers(0, 4), st.integers(0, 40), st.integers(9, 13))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(st.tuples(COUNT, COUNT), min_size=1, max_size=8))
def test_no_hidden_count_of_a_series_can_be_worked_out(buckets: list[tuple[int, int]]) -> None:
    values, equations = series_groups(buckets)
    shown = released(values, equations, set())
    assert problems(values, shown, equations) == []


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    st.lists(st.lists(COUNT, min_size=1, max_size=3), min_size=1, max_size=3),
    st.integers(0, 3), COUNT,
)  # fmt: skip
def test_no_hidden_count_of_two_breakdowns_of_one_unshown_total_can_be_worked_out(
    sources: list[list[int]], second: int, fatal: int
) -> None:
    """Sources, each the sum of its agencies; sources and agencies add up to the reports,
    not shown, at least the incidents (the reports less `second` reports of one
    incident), which are the non-fatal and the fatal ones."""
    values = {"R": sum(map(sum, sources))}
    equations: list[Equation] = []
    for i, agencies in enumerate(sources):
        values |= {f"s{i}": sum(agencies)} | {f"a{i}.{j}": n for j, n in enumerate(agencies)}
        equations.append((f"s{i}", [f"a{i}.{j}" for j in range(len(agencies))]))
    equations += [("R", [n for n in values if n.startswith("s")]),
                  ("R", [n for n in values if n.startswith("a")])]  # fmt: skip
    incidents = max(values["R"] - second, 0)
    values |= {"T": incidents, "F": min(fatal, incidents), "NF": incidents - min(fatal, incidents)}
    equations.append(("T", ["NF", "F"]))
    shown = released(values, equations, {"R"}, {"R": "T"})
    assert problems(values, shown, equations, {"R": "T"}) == []


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(COUNT, min_size=6, max_size=6), st.data(), st.booleans())
def test_no_hidden_count_of_the_contact_bins_teams_and_72_hour_share_can_be_worked_out(
    bins: list[int], data: st.DataObject, share_shown: bool
) -> None:
    """The bins and the teams add up to the cases contacted; the bins below 72 h to what
    the 72 h share gives while it is shown."""
    contacted = sum(bins)
    cuts = sorted(data.draw(st.lists(st.integers(0, contacted), max_size=3)))
    teams = [b - a for a, b in zip([0, *cuts], [*cuts, contacted], strict=True)]
    values = {"C": contacted} | {f"b{i}": n for i, n in enumerate(bins)}
    values |= {f"t{i}": n for i, n in enumerate(teams)} | {"W": sum(bins[:4])}
    equations: list[Equation] = [("C", [f"b{i}" for i in range(6)]),
                                 ("C", [f"t{i}" for i in range(len(teams))]),
                                 ("W", [f"b{i}" for i in range(4)])]  # fmt: skip
    counts = {n: Count.cell(v) for n, v in values.items()}
    counts["W"] = Count(values["W"], Kind.SHARE, hidden=not share_shown)
    nested = [("C", ["W", "b4", "b5"])]  # the bins less those below 72 h, as release.py has it
    groups = equations + nested
    suppression.protect_all((counts[t], [counts[p] for p in ps]) for t, ps in groups)
    shown: dict[str, object] = {n: c.shown for n, c in counts.items()}
    shown["W"] = None if counts["W"].hidden else values["W"]
    assert problems(values, shown, equations) == []  # type: ignore[arg-type]


def test_the_period_is_whole_days_in_the_programs_zone() -> None:
    october = period_of(date(2026, 10, 1), date(2026, 10, 31), NEW_YORK)
    assert october.start_utc == datetime(2026, 10, 1, 4, tzinfo=UTC)  # EDT
    assert october.end_utc == datetime(2026, 11, 1, 4, tzinfo=UTC)  # midnight, still EDT
    november = period_of(date(2026, 11, 1), date(2026, 11, 30), NEW_YORK)
    assert november.end_utc == datetime(2026, 12, 1, 5, tzinfo=UTC)  # EST after Nov 1


def test_periods_backwards_or_longer_than_three_years_are_refused_in_words() -> None:
    with pytest.raises(PeriodError, match=r"`from` \(2026-10-02\) is after `to` \(2026-10-01\)"):
        period_of(date(2026, 10, 2), date(2026, 10, 1), NEW_YORK)
    longest = period_of(date(2024, 1, 1), date(2026, 12, 31), NEW_YORK)  # 1,096 days
    assert (longest.last - longest.first).days + 1 == MAX_DAYS
    with pytest.raises(PeriodError, match="at most 3 years"):
        period_of(date(2024, 1, 1), date(2027, 1, 1), NEW_YORK)
    with pytest.raises(PeriodError, match="out of range"):
        period_of(date(9999, 12, 30), date(9999, 12, 31), NEW_YORK)


def test_weeks_start_on_monday_and_months_on_the_first_partial_at_the_ends() -> None:
    period = period_of(date(2026, 10, 1), date(2026, 11, 3), NEW_YORK)  # Thursday to Tuesday
    weeks = period.buckets(ReportBy.WEEK)
    assert [b.start for b in weeks] == [
        date(2026, 9, 28), date(2026, 10, 5), date(2026, 10, 12), date(2026, 10, 19),
        date(2026, 10, 26), date(2026, 11, 2),
    ]  # fmt: skip
    assert weeks[0].start_utc == period.start_utc  # the first week counts from Oct 1
    assert weeks[-2].end_utc == datetime(2026, 11, 2, 5, tzinfo=UTC)  # a 25-hour Sunday
    assert weeks[-1].end_utc == period.end_utc
    months = period.buckets(ReportBy.MONTH)
    assert [(b.start, b.end_utc) for b in months] == [
        (date(2026, 10, 1), datetime(2026, 11, 1, 4, tzinfo=UTC)),
        (date(2026, 11, 1), datetime(2026, 11, 4, 5, tzinfo=UTC)),
    ]
    december = period_of(date(2026, 12, 5), date(2027, 1, 2), NEW_YORK).buckets(ReportBy.MONTH)
    assert [b.start for b in december] == [date(2026, 12, 1), date(2027, 1, 1)]


def test_the_default_period_is_the_last_12_full_months() -> None:
    today = date(2027, 1, 10)
    assert default_period(today, None, None) == (date(2026, 1, 1), date(2026, 12, 31))
    assert default_period(today, None, date(2026, 10, 15)) == (
        date(2025, 11, 1),
        date(2026, 10, 15),
    )
    assert default_period(today, date(2026, 12, 1), None) == (date(2026, 12, 1), today)
    assert default_period(today, date(2027, 2, 1), None) == (date(2027, 2, 1), date(2027, 2, 1))
    assert default_period(today, date(2026, 3, 1), date(2026, 3, 31)) == (
        date(2026, 3, 1), date(2026, 3, 31),
    )  # fmt: skip


def test_quantiles_are_linear_between_the_nearest_values_as_percentile_cont() -> None:
    assert continuous_quantile([], 0.5) is None
    assert continuous_quantile([7.0], 0.9) == 7.0
    assert continuous_quantile([11.5, 20.0, 74.0, 80.0], 0.5) == 47.0
    assert continuous_quantile([11.5, 20.0, 74.0, 80.0], 0.9) == pytest.approx(78.2)
    assert continuous_quantile([1.0, 2.0, 3.0], 0.5) == 2.0


def test_words_are_counted_once_a_row() -> None:
    rows = [("naloxone_kit treatment_info", 3), ("naloxone_kit", 2), (None, 4), ("a a", 1)]
    assert count_words(rows) == {"naloxone_kit": 5, "treatment_info": 3, "a": 1}

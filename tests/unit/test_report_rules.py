"""The report's rules without a store: the small-cell rule of shareable figures, the
period's days and buckets in the program's zone, the default period, the quantiles, the
words counted."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from schemas.report import SUPPRESSED, ReportBy
from services.reporting import suppression
from services.reporting.period import MAX_DAYS, PeriodError, default_period, period_of
from services.reporting.spread import continuous_quantile, count_words

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("count", "shown"), [(0, 0), (1, SUPPRESSED), (7, SUPPRESSED), (10, SUPPRESSED), (11, 11)]
)
def test_counts_from_1_to_10_are_suppressed_for_release(count: int, shown: object) -> None:
    assert suppression.cell(count, share=True) == shown
    assert suppression.cell(count, share=False) == count


def test_a_share_that_would_reveal_a_small_count_is_left_out() -> None:
    assert suppression.share_of(30, 90, share=True) == 0.3333
    assert suppression.share_of(5, 90, share=True) is None  # the numerator
    assert suppression.share_of(85, 90, share=True) is None  # the rest: 5
    assert suppression.share_of(4, 8, share=True) is None  # the denominator
    assert suppression.share_of(0, 40, share=True) == 0.0 and suppression.share_of(40, 40, True)
    assert suppression.share_of(5, 90, share=False) == 0.0556
    assert suppression.share_of(0, 0, share=False) is None


def test_quantiles_of_few_cases_are_left_out_for_release() -> None:
    few = suppression.quantiles(10, 20.0, 30.0, share=True)
    assert (few.n, few.median_hours, few.p90_hours) == (SUPPRESSED, None, None)
    many = suppression.quantiles(11, 20.004, 31.256, share=True)
    assert (many.n, many.median_hours, many.p90_hours) == (11, 20.0, 31.26)
    assert suppression.quantiles(3, 20.0, 30.0, share=False).median_hours == 20.0
    none = suppression.quantiles(0, None, None, share=True)
    assert (none.n, none.median_hours) == (0, None)


def test_named_counts_are_suppressed_one_by_one() -> None:
    rows = suppression.named([("ems", 12), ("police", 3), ("other", 0)], share=True)
    assert [(r.name, r.count) for r in rows] == [("ems", 12), ("police", SUPPRESSED), ("other", 0)]


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

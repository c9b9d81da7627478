"""A report's period: whole days in the program's time zone (`period_to` inclusive), their
UTC bounds, the months or ISO weeks (Monday first) its series is cut into, and the
default period (the last 12 full months). Pure: no store.

A bucket is named by the first day of its month or week; the first and last bucket of
a period may be partial (only the period's days count in them)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from schemas.report import ReportBy

MAX_DAYS = 3 * 365 + 1  # three years, one leap day included


class PeriodError(ValueError):
    """A period that cannot be reported, in words."""


@dataclass(frozen=True)
class Bucket:
    start: date  # the month's first day or the week's Monday
    start_utc: datetime  # where it starts within the period (the period's start, if later)
    end_utc: datetime  # exclusive


@dataclass(frozen=True)
class Period:
    first: date
    last: date  # inclusive
    zone: ZoneInfo
    start_utc: datetime  # the first day's midnight in the zone
    end_utc: datetime  # the midnight after the last day (exclusive)

    def buckets(self, by: ReportBy) -> list[Bucket]:
        starts = _starts(self.first, self.last, by)
        out = []
        for i, start in enumerate(starts):
            begin = max(midnight(start, self.zone), self.start_utc)
            end = midnight(starts[i + 1], self.zone) if i + 1 < len(starts) else self.end_utc
            out.append(Bucket(start, begin, end))
        return out


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The start of a day in the zone, in UTC (a day may be 23 or 25 hours long)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def period_of(first: date, last: date, zone: ZoneInfo) -> Period:
    """The period from `first` to `last` (inclusive) in the zone; PeriodError if it runs
    backwards or is longer than MAX_DAYS."""
    if first > last:
        raise PeriodError(f"`from` ({first}) is after `to` ({last})")
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise PeriodError(f"the period is {days} days long; a report covers at most 3 years")
    try:
        return Period(first, last, zone, midnight(first, zone), midnight(last + timedelta(1), zone))
    except OverflowError:
        raise PeriodError("the period is out of range") from None


def default_period(today: date, first: date | None, last: date | None) -> tuple[date, date]:
    """The days asked for, with what is missing filled in: neither given, the last 12 full
    months (to the last day of the month before `today`); only `to`, the 12 months up to
    it (from the first of its month 11 months earlier); only `from`, up to `today`."""
    if first is not None and last is not None:
        return first, last
    if first is not None:
        return first, max(today, first)
    if last is None:
        last = today.replace(day=1) - timedelta(days=1)
    return _months_before(last.replace(day=1), 11), last


def bucket_index(bounds: list[datetime], at: datetime) -> int:
    """Which bucket (by the UTC ends of the buckets, in order) a time falls in."""
    return bisect.bisect_right(bounds, at)


def _months_before(first_of_month: date, months: int) -> date:
    index = first_of_month.year * 12 + first_of_month.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _starts(first: date, last: date, by: ReportBy) -> list[date]:
    if by is ReportBy.WEEK:
        start = first - timedelta(days=first.weekday())
        return [start + timedelta(weeks=i) for i in range((last - start).days // 7 + 1)]
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    return [_months_before(first.replace(day=1), -i) for i in range(months)]

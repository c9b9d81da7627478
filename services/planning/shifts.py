"""Team shifts: the weekly patterns a program configures, and their occurrences in UTC.

Configuration (to be embedded in the programs TOML)::

    [[program.team]]
    id = "day-a"
    name = "Day team A"
    capacity_per_shift = 8
    days_off = [2026-12-25, 2027-01-01]

    [[program.team.shift]]
    days = ["mon", "wed", "fri"]
    start = "09:00"
    end = "17:00"

Times are wall-clock times in the program's time zone, "HH:MM" on a 24-hour clock (a TOML
local time such as `09:00` is accepted too). A shift whose end is at or before its start is
an overnight shift: it ends on the next day ("22:00"-"06:00" is 8 hours; "08:00"-"08:00" is a
24-hour shift). A team's weekly shifts may not overlap each other: capacity is per shift.

Occurrences (`shifts_between`) are computed in local time and then converted to UTC, so a
shift keeps its wall-clock hours across daylight-saving changes (an overnight shift is one hour
shorter on the spring-forward night and one hour longer on the fall-back night). Wall times
that do not exist (the spring-forward gap) are moved to the instant the clocks jump; wall times
that happen twice (the fall-back hour) mean the first of the two. This conversion never runs
backwards, so shifts that do not overlap on the wall clock do not overlap in UTC either. A day
off is the local date on which a shift starts: an overnight shift that starts the evening before
a day off still runs.

Nothing here does I/O or reads the clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Annotated, Any, Literal, Self, get_args
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES: tuple[DayName, ...] = get_args(DayName)
_MINUTES_PER_DAY = 24 * 60
_MINUTES_PER_WEEK = 7 * _MINUTES_PER_DAY
_HHMM = re.compile(r"^(\d{2}):(\d{2})$")


def _parse_hhmm(value: Any) -> Any:
    """'HH:MM' (00:00-23:59) or a TOML local time on a whole minute -> `time`."""
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise ValueError("a shift time is a local wall-clock time: give no time zone")
        if value.second or value.microsecond:
            raise ValueError(f"a shift time is HH:MM, on a whole minute; got {value.isoformat()}")
        return value
    if isinstance(value, str):
        found = _HHMM.match(value.strip())
        if found:
            hour, minute = int(found.group(1)), int(found.group(2))
            if hour < 24 and minute < 60:
                return time(hour, minute)
        hint = " (for midnight write 00:00)" if value.strip().startswith("24") else ""
        raise ValueError(f'expected a time as "HH:MM" on a 24-hour clock, got {value!r}{hint}')
    raise ValueError(f'expected a time as "HH:MM" on a 24-hour clock, got {value!r}')


ShiftTime = Annotated[
    time, BeforeValidator(_parse_hhmm), Field(description='"HH:MM", local wall-clock time')
]


def _minutes(at: time) -> int:
    return at.hour * 60 + at.minute


class ShiftPattern(BaseModel):
    """One weekly shift: on each of `days`, from `start` to `end` (overnight if end <= start)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: Annotated[list[DayName], Field(min_length=1)]
    start: ShiftTime
    end: ShiftTime

    @field_validator("days")
    @classmethod
    def _no_repeated_day(cls, value: list[DayName]) -> list[DayName]:
        repeated = sorted({d for d in value if value.count(d) > 1}, key=DAY_NAMES.index)
        if repeated:
            raise ValueError(f"days listed twice: {', '.join(repeated)}")
        return value

    @field_serializer("start", "end")
    def _dump_time(self, value: time) -> str:
        return value.strftime("%H:%M")

    @property
    def duration(self) -> timedelta:
        """Wall-clock length: end - start, plus a day when end <= start (overnight)."""
        minutes = (_minutes(self.end) - _minutes(self.start)) % _MINUTES_PER_DAY
        return timedelta(minutes=minutes or _MINUTES_PER_DAY)

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def label(self, day: DayName) -> str:
        return f"{day} {self.start:%H:%M}-{self.end:%H:%M}"


def _weekly_overlap(patterns: Sequence[ShiftPattern]) -> str | None:
    """The first pair of weekly occurrences that overlap (wrapping Sunday -> Monday), if any."""
    pieces: list[tuple[int, int, str]] = []
    for pattern in patterns:
        length = int(pattern.duration.total_seconds()) // 60
        for day in pattern.days:
            begin = DAY_NAMES.index(day) * _MINUTES_PER_DAY + _minutes(pattern.start)
            finish = begin + length
            label = pattern.label(day)
            pieces.append((begin, min(finish, _MINUTES_PER_WEEK), label))
            if finish > _MINUTES_PER_WEEK:  # sunday night into monday morning
                pieces.append((0, finish - _MINUTES_PER_WEEK, label))
    pieces.sort()
    for (_, first_end, first), (second_begin, _, second) in pairwise(pieces):
        if second_begin < first_end:
            return f"{first} and {second}"
    return None


class TeamConfig(BaseModel):
    """A Quick Response Team: its weekly shifts, dates off, and visits it can make per shift."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
    name: Annotated[str, Field(min_length=1)]
    capacity_per_shift: Annotated[int, Field(ge=1, strict=True)]
    shifts: Annotated[
        list[ShiftPattern],
        Field(
            min_length=1,
            validation_alias=AliasChoices("shift", "shifts"),
            serialization_alias="shift",
        ),
    ]
    days_off: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _shifts_do_not_overlap(self) -> Self:
        clash = _weekly_overlap(self.shifts)
        if clash:
            raise ValueError(
                f"team {self.id!r}: shifts overlap ({clash}); "
                "capacity is per shift, so merge them or raise capacity_per_shift"
            )
        return self


def _unique_team_ids(teams: list[TeamConfig]) -> list[TeamConfig]:
    ids = [t.id for t in teams]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValueError(f"team ids appear twice: {', '.join(repeated)}")
    return teams


TeamList = Annotated[list[TeamConfig], AfterValidator(_unique_team_ids)]
"""A program's teams (`[[program.team]]`): ids must be unique within the program."""


@dataclass(frozen=True)
class Shift:
    """One occurrence of a team's shift, in aware UTC datetimes: [start, end)."""

    team_id: str
    start: datetime
    end: datetime
    capacity: int


def _local_to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """A naive wall-clock time in `tz` -> aware UTC, never running backwards.

    Repeated wall times (fall back) are the first occurrence; missing ones (spring forward)
    are the instant the clocks jump, found by bisection between the two readings.
    """
    early = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if early.astimezone(tz).replace(tzinfo=None) == local:
        return early
    # In a gap: fold=0 reads it with the offset before the jump (an instant after the jump),
    # fold=1 with the offset after (an instant before it). Bisect to the jump itself.
    low = local.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = early
    if low > high:
        low, high = high, low
    step = timedelta(seconds=1)
    while high - low > step:
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(tz).replace(tzinfo=None) >= local:
            high = middle
        else:
            low = middle
    return high


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {value.isoformat()}")
    return value


def shifts_between(
    teams: Iterable[TeamConfig], tz: ZoneInfo, start: datetime, end: datetime
) -> list[Shift]:
    """Every shift occurrence overlapping [start, end), in UTC, sorted by (start, team_id).

    `start` and `end` are aware datetimes (any zone). An occurrence overlaps when it starts
    before `end` and ends after `start`. Occurrences are skipped on a team's days off (the local
    date the shift starts) and when the daylight-saving gap swallows them whole.
    """
    _aware(start, "start")
    _aware(end, "end")
    if end <= start:
        return []
    # A shift lasts at most 24 wall-clock hours, so one that overlaps [start, end) started on
    # a local date no earlier than two days before `start`'s local date.
    first_day = start.astimezone(tz).date() - timedelta(days=2)
    last_day = end.astimezone(tz).date()
    found: list[Shift] = []
    for team in teams:
        by_weekday: list[list[ShiftPattern]] = [[] for _ in DAY_NAMES]
        for pattern in team.shifts:
            for name in pattern.days:
                by_weekday[DAY_NAMES.index(name)].append(pattern)
        days_off = set(team.days_off)
        day = first_day
        while day <= last_day:
            if day not in days_off:
                for pattern in by_weekday[day.weekday()]:
                    local_start = datetime.combine(day, pattern.start)
                    shift_start = _local_to_utc(local_start, tz)
                    shift_end = _local_to_utc(local_start + pattern.duration, tz)
                    if shift_start < shift_end and shift_start < end and shift_end > start:
                        found.append(
                            Shift(team.id, shift_start, shift_end, team.capacity_per_shift)
                        )
            day += timedelta(days=1)
    found.sort(key=lambda s: (s.start, s.team_id, s.end))
    return found

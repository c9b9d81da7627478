"""When a text may reach its recipient (pure: no I/O, the time passed in).

US practice under the TCPA: texts go only between 08:00 and 21:00 in the
recipient's local time, and some states are stricter (FL, OK, MD, MS, NJ:
08:00-20:00; CT: 09:00-20:00). A text due in quiet hours is deferred to the next
permitted instant, never dropped.

The recipient's zone comes from their ZIP code (the `zipcodes` package, with the
corrections in `us_zones`), else from their number's area code (`us_zones`), else
it is the program's zone. The ZIP data is decompressed on the first ZIP looked up
(about 0.3 s, once per process), not at import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import zipcodes

from services.sms.us_zones import ZIP_ZONE_OVERRIDES, area_code_zone

_ZIP = re.compile(r"(\d{5})(?:[-\s]?\d{4})?")
_NANP = re.compile(r"\+1([2-9]\d{2})[2-9]\d{6}")
_PHONE_PUNCTUATION = str.maketrans("", "", " -.()")
# Armed Forces "states" (AA, AE, AP): the ZIP says nothing about the local time.
_NOT_A_PLACE = frozenset({"AA", "AE", "AP"})


@dataclass(frozen=True)
class RecipientZone:
    zone: ZoneInfo
    state: str | None  # two-letter USPS code when known
    source: Literal["zip", "area_code", "program"]


def recipient_zone(
    zip_code: str | None, phone_e164: str | None, program_zone: ZoneInfo
) -> RecipientZone:
    """The recipient's zone: from the ZIP, else the area code, else the program's."""
    if zip_code:
        match = _ZIP.fullmatch(zip_code.strip())
        found = _zip_zone(match.group(1)) if match else None
        if found is not None:
            return RecipientZone(found[1], found[0], "zip")
    if phone_e164:
        match = _NANP.fullmatch(phone_e164.strip().translate(_PHONE_PUNCTUATION))
        known = area_code_zone(match.group(1)) if match else None
        zone = _zone(known[1]) if known else None
        if known is not None and zone is not None:
            return RecipientZone(zone, known[0], "area_code")
    return RecipientZone(program_zone, None, "program")


@lru_cache(maxsize=8192)
def _zip_zone(zip5: str) -> tuple[str, ZoneInfo] | None:
    records = zipcodes.matching(zip5)
    if not records:
        return None
    state = str(records[0]["state"])
    if state in _NOT_A_PLACE:
        return None
    zone = _zone(ZIP_ZONE_OVERRIDES.get(zip5) or str(records[0]["timezone"]))
    return None if zone is None else (state, zone)


def _zone(key: str) -> ZoneInfo | None:
    if not key:
        return None
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class SendingHours:
    start: time  # inclusive
    end: time  # exclusive: 21:00 means the last permitted minute starts 20:59

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("sending hours are local wall-clock times, without a zone")
        if not self.start < self.end:
            raise ValueError(f"sending hours must start before they end: {self}")


DEFAULT_HOURS = SendingHours(time(8), time(21))
_EIGHT_TO_EIGHT = SendingHours(time(8), time(20))
STATE_HOURS: Mapping[str, SendingHours] = MappingProxyType(
    {
        **dict.fromkeys(("FL", "OK", "MD", "MS", "NJ"), _EIGHT_TO_EIGHT),
        "CT": SendingHours(time(9), time(20)),
    }
)


def sending_hours(
    state: str | None, overrides: Mapping[str, SendingHours] | None = None
) -> SendingHours:
    """The hours for a state: `overrides` (by state code) replace the built-in rules."""
    if not state:
        return DEFAULT_HOURS
    code = state.strip().upper()
    if overrides:
        for key, hours in overrides.items():
            if key.strip().upper() == code:
                return hours
    return STATE_HOURS.get(code, DEFAULT_HOURS)


def is_permitted(at: datetime, zone: ZoneInfo, hours: SendingHours) -> bool:
    """Whether a text may go at `at` (aware) to someone whose clock is in `zone`."""
    _require_aware(at)
    wall = at.astimezone(zone).time()
    return hours.start <= wall < hours.end


def next_permitted(at: datetime, zone: ZoneInfo, hours: SendingHours) -> datetime:
    """`at` itself if a text may go then, else the first instant after it that it may, in UTC.

    Exact across changes of UTC offset (DST, or any other): the time line is cut into
    stretches of constant offset, in each of which local time is UTC plus that offset.
    If the opening time does not exist on a spring-forward day, the window opens at the
    change; if it exists twice on a fall-back day, it opens at the first of the two.
    """
    if is_permitted(at, zone, hours):
        return at
    t = at.astimezone(UTC)
    for _ in range(16):  # each stretch ends at an offset change; a window comes within 2
        offset = _offset(t, zone)
        wall = (t + offset).replace(tzinfo=None)
        if hours.start <= wall.time() < hours.end:
            return t  # a change of offset that lands inside the window
        day = wall.date() if wall.time() < hours.start else wall.date() + timedelta(days=1)
        opens = t + (_at(day, hours.start) - wall)
        change = _next_offset_change(t, opens, zone)
        if change is None:
            return opens
        t = change
    raise RuntimeError(f"no permitted time found after {at} in {zone.key}")  # pragma: no cover


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock)


def _offset(t: datetime, zone: ZoneInfo) -> timedelta:
    offset = t.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _next_offset_change(start: datetime, end: datetime, zone: ZoneInfo) -> datetime | None:
    """The first instant in (start, end] at which `zone`'s UTC offset differs from at `start`.

    Offsets are sampled hourly and the change found to the microsecond by bisection (no
    zone changes its offset twice within an hour)."""
    before = _offset(start, zone)
    lo = start
    while lo < end:
        hi = min(lo + timedelta(hours=1), end)
        if _offset(hi, zone) != before:
            while hi - lo > timedelta(microseconds=1):
                mid = lo + (hi - lo) // 2
                if _offset(mid, zone) == before:
                    lo = mid
                else:
                    hi = mid
            return hi
        lo = hi
    return None


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got a naive one: {at!r}")

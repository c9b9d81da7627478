"""Recipient time: zone from ZIP, area code or program; sending hours; next permitted time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.sms import us_zones
from services.sms.recipient_time import (
    DEFAULT_HOURS,
    STATE_HOURS,
    SendingHours,
    is_permitted,
    next_permitted,
    recipient_zone,
    sending_hours,
)

NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
PROGRAM = ZoneInfo("America/Los_Angeles")
EIGHT_TO_EIGHT = SendingHours(time(8), time(20))
NINE_TO_EIGHT = SendingHours(time(9), time(20))


def utc(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- the recipient's zone -------------------------------------------------------------


@pytest.mark.parametrize(
    ("zip_code", "zone", "state"),
    [
        ("25701", "America/New_York", "WV"),  # Huntington
        ("85001", "America/Phoenix", "AZ"),
        ("96813", "Pacific/Honolulu", "HI"),
        ("99501", "America/Anchorage", "AK"),
        ("00901", "America/Puerto_Rico", "PR"),
        ("32501", "America/Chicago", "FL"),  # Pensacola: the Central part of Florida
        ("79901", "America/Denver", "TX"),  # El Paso
        ("86515", "America/Denver", "AZ"),  # Window Rock: the Navajo Nation keeps DST
        ("86045", "America/Denver", "AZ"),  # Tuba City: corrected in us_zones
        ("86040", "America/Phoenix", "AZ"),  # Page: corrected in us_zones
        ("89883", "America/Denver", "NV"),  # West Wendover: corrected in us_zones
        ("25701-1234", "America/New_York", "WV"),
        (" 25701 ", "America/New_York", "WV"),
    ],
)
def test_zip_gives_zone_and_state(zip_code: str, zone: str, state: str) -> None:
    found = recipient_zone(zip_code, "+12125550100", PROGRAM)
    assert (found.zone.key, found.state, found.source) == (zone, state, "zip")


def test_florida_and_connecticut_zips_get_their_stricter_hours() -> None:
    miami = recipient_zone("33101", None, PROGRAM)
    hartford = recipient_zone("06101", None, PROGRAM)
    assert (miami.state, hartford.state) == ("FL", "CT")
    assert sending_hours(miami.state) == EIGHT_TO_EIGHT
    assert sending_hours(hartford.state) == NINE_TO_EIGHT


@pytest.mark.parametrize("zip_code", ["00000", "99999", "ABCDE", "1234", "", "09001"])
def test_unknown_zip_falls_back_to_the_area_code(zip_code: str) -> None:
    # 09001 is an Armed Forces (AE) ZIP: it says nothing about local time.
    found = recipient_zone(zip_code, "+13045550142", PROGRAM)
    assert (found.zone, found.state, found.source) == (NEW_YORK, "WV", "area_code")


@pytest.mark.parametrize(
    ("phone", "zone", "state"),
    [
        ("+18505550100", "America/Chicago", "FL"),  # Florida panhandle: mostly Central
        ("+12195550100", "America/Chicago", "IN"),  # NW Indiana
        ("+13175550100", "America/Indiana/Indianapolis", "IN"),
        ("+19155550100", "America/Denver", "TX"),  # El Paso
        ("+12705550100", "America/Chicago", "KY"),
        ("+14235550100", "America/New_York", "TN"),
        ("+16025550100", "America/Phoenix", "AZ"),
        ("+18085550100", "Pacific/Honolulu", "HI"),
        ("+17875550100", "America/Puerto_Rico", "PR"),
        ("+1 (203) 555-0100", "America/New_York", "CT"),
    ],
)
def test_area_code_gives_zone_and_state(phone: str, zone: str, state: str) -> None:
    found = recipient_zone(None, phone, PROGRAM)
    assert (found.zone.key, found.state, found.source) == (zone, state, "area_code")


@pytest.mark.parametrize(
    "phone",
    [None, "", "+18005550100", "+14165550100", "+442071838750", "3045550142", "+1304555014"],
)
def test_neither_known_gives_the_program_zone(phone: str | None) -> None:
    # toll-free, Canadian, British, not E.164, too short: none tells a US zone
    assert recipient_zone(None, phone, PROGRAM) == recipient_zone("99999", phone, PROGRAM)
    found = recipient_zone(None, phone, PROGRAM)
    assert (found.zone, found.state, found.source) == (PROGRAM, None, "program")


def test_area_code_table_is_consistent() -> None:
    assert len(us_zones.AREA_CODES) > 350
    for code, (state, zone) in us_zones.AREA_CODES.items():
        assert len(code) == 3 and code[0] in "23456789", code
        assert len(state) == 2, code
        ZoneInfo(zone)
    for zone in us_zones.ZIP_ZONE_OVERRIDES.values():
        ZoneInfo(zone)


# --- sending hours --------------------------------------------------------------------


def test_sending_hours_by_state() -> None:
    for state in ("FL", "OK", "MD", "MS", "NJ", "fl"):
        assert sending_hours(state) == EIGHT_TO_EIGHT
    assert sending_hours("CT") == NINE_TO_EIGHT
    assert (
        sending_hours("WV")
        == sending_hours(None)
        == DEFAULT_HOURS
        == SendingHours(time(8), time(21))
    )
    assert set(STATE_HOURS) == {"FL", "OK", "MD", "MS", "NJ", "CT"}
    late = SendingHours(time(10), time(19))
    assert sending_hours("wv", {"WV": late}) == late
    assert sending_hours("FL", {"wv": late}) == EIGHT_TO_EIGHT


def test_sending_hours_must_be_a_window_within_a_day() -> None:
    with pytest.raises(ValueError):
        SendingHours(time(21), time(8))
    with pytest.raises(ValueError):
        SendingHours(time(8), time(8))
    with pytest.raises(ValueError):
        SendingHours(time(8, tzinfo=UTC), time(21))


# --- permitted times ------------------------------------------------------------------


def test_the_last_permitted_minute_starts_at_20_59() -> None:
    # 2026-06-15: EDT, UTC-4
    assert is_permitted(utc(2026, 6, 15, 0, 59, 30), NEW_YORK, DEFAULT_HOURS)  # 20:59:30
    assert not is_permitted(utc(2026, 6, 15, 1, 0), NEW_YORK, DEFAULT_HOURS)  # 21:00
    assert is_permitted(utc(2026, 6, 15, 12, 0), NEW_YORK, DEFAULT_HOURS)  # 08:00
    assert not is_permitted(utc(2026, 6, 15, 11, 59, 59), NEW_YORK, DEFAULT_HOURS)


def test_permitted_now_is_returned_as_is() -> None:
    at = datetime(2026, 6, 15, 12, 0, tzinfo=NEW_YORK)
    assert next_permitted(at, NEW_YORK, DEFAULT_HOURS) is at


def test_07_59_is_deferred_to_08_00_the_same_day() -> None:
    at = utc(2026, 6, 15, 11, 59)  # 07:59 EDT
    assert next_permitted(at, NEW_YORK, DEFAULT_HOURS) == utc(2026, 6, 15, 12, 0)


def test_22_00_is_deferred_to_08_00_the_next_day() -> None:
    at = utc(2026, 6, 16, 2, 0)  # Mon 22:00 EDT
    later = next_permitted(at, NEW_YORK, DEFAULT_HOURS)
    assert later == utc(2026, 6, 16, 12, 0)  # Tue 08:00 EDT
    assert later.tzinfo is UTC


def test_stricter_state_hours_defer_an_evening_text() -> None:
    at = utc(2026, 6, 16, 0, 30)  # 20:30 EDT: fine in WV, too late in CT
    assert next_permitted(at, NEW_YORK, DEFAULT_HOURS) == at
    assert next_permitted(at, NEW_YORK, NINE_TO_EIGHT) == utc(2026, 6, 16, 13, 0)  # 09:00 EDT


def test_spring_forward_day_opens_at_08_00_edt() -> None:
    # 2026-03-08: 02:00 EST becomes 03:00 EDT; 08:00 EDT is 12:00 UTC, not 13:00
    at = utc(2026, 3, 8, 6, 30)  # 01:30 EST
    assert next_permitted(at, NEW_YORK, DEFAULT_HOURS) == utc(2026, 3, 8, 12, 0)
    at = utc(2026, 3, 8, 2, 0)  # Sat 21:00 EST
    assert next_permitted(at, NEW_YORK, DEFAULT_HOURS) == utc(2026, 3, 8, 12, 0)


def test_fall_back_day_opens_at_08_00_est() -> None:
    # 2026-11-01: 02:00 EDT becomes 01:00 EST; 08:00 EST is 13:00 UTC, not 12:00
    at = utc(2026, 11, 1, 5, 30)  # 01:30 EDT, the first of two
    assert next_permitted(at, NEW_YORK, DEFAULT_HOURS) == utc(2026, 11, 1, 13, 0)
    at = utc(2026, 11, 1, 1, 0)  # Sat 21:00 EDT
    assert next_permitted(at, NEW_YORK, DEFAULT_HOURS) == utc(2026, 11, 1, 13, 0)


def test_an_opening_time_that_does_not_exist_opens_at_the_change() -> None:
    hours = SendingHours(time(2, 30), time(21))
    assert next_permitted(utc(2026, 3, 8, 5, 0), NEW_YORK, hours) == utc(2026, 3, 8, 7, 0)


def test_an_opening_time_that_exists_twice_opens_at_the_first() -> None:
    hours = SendingHours(time(1, 30), time(21))
    assert next_permitted(utc(2026, 11, 1, 4, 0), NEW_YORK, hours) == utc(2026, 11, 1, 5, 30)


@pytest.mark.parametrize(
    ("zone", "at", "expected"),
    [
        # Phoenix keeps UTC-7 all year
        ("America/Phoenix", utc(2026, 7, 1, 14, 0), utc(2026, 7, 1, 15, 0)),
        ("America/Phoenix", utc(2026, 1, 15, 14, 0), utc(2026, 1, 15, 15, 0)),
        ("America/Phoenix", utc(2026, 3, 8, 14, 0), utc(2026, 3, 8, 15, 0)),
        # Honolulu, UTC-10; Puerto Rico, UTC-4; Anchorage, UTC-9 in winter, -8 in summer
        ("Pacific/Honolulu", utc(2026, 7, 1, 7, 0), utc(2026, 7, 1, 18, 0)),
        ("America/Puerto_Rico", utc(2026, 1, 15, 2, 0), utc(2026, 1, 15, 12, 0)),
        ("America/Anchorage", utc(2026, 1, 15, 6, 0), utc(2026, 1, 15, 17, 0)),
        ("America/Anchorage", utc(2026, 7, 1, 6, 0), utc(2026, 7, 1, 16, 0)),
        ("America/Anchorage", utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 16, 0)),
    ],
)
def test_zones_without_dst_or_far_west(zone: str, at: datetime, expected: datetime) -> None:
    assert next_permitted(at, ZoneInfo(zone), DEFAULT_HOURS) == expected


def test_input_in_another_zone_means_the_same_instant() -> None:
    at = datetime(2026, 6, 15, 23, 0, tzinfo=PROGRAM)  # 02:00 next day in New York
    assert not is_permitted(at, NEW_YORK, DEFAULT_HOURS)
    assert next_permitted(at, NEW_YORK, DEFAULT_HOURS) == utc(2026, 6, 16, 12, 0)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        next_permitted(datetime(2026, 6, 15, 12, 0), NEW_YORK, DEFAULT_HOURS)
    with pytest.raises(ValueError):
        is_permitted(datetime(2026, 6, 15, 12, 0), NEW_YORK, DEFAULT_HOURS)


# --- property: the result is the first permitted minute -------------------------------

ZONES = [
    ZoneInfo(name)
    for name in (
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
        "America/Anchorage",
        "America/Adak",
        "Pacific/Honolulu",
        "America/Puerto_Rico",
        "America/Indiana/Indianapolis",
    )
]
# DST changes in the US (at 2:00 local, so between 06:00 and 12:00 UTC)
CHANGES = [utc(2026, 3, 8, 9), utc(2026, 11, 1, 9), utc(2027, 3, 14, 9), utc(2027, 11, 7, 9)]


@st.composite
def hours_strategy(draw: st.DrawFn) -> SendingHours:
    fixed = [DEFAULT_HOURS, EIGHT_TO_EIGHT, NINE_TO_EIGHT]
    if draw(st.booleans()):
        return draw(st.sampled_from(fixed))
    start = draw(st.integers(0, 24 * 60 - 2))
    end = draw(st.integers(start + 1, 24 * 60 - 1))
    return SendingHours(time(start // 60, start % 60), time(end // 60, end % 60))


instants = st.one_of(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
    st.tuples(st.sampled_from(CHANGES), st.integers(-36 * 3600, 36 * 3600)).map(
        lambda p: p[0] + timedelta(seconds=p[1])
    ),
)


@settings(max_examples=300, deadline=None)
@given(at=instants, zone=st.sampled_from(ZONES), hours=hours_strategy())
@example(at=utc(2026, 3, 8, 6, 59, 59), zone=NEW_YORK, hours=SendingHours(time(2, 30), time(3)))
@example(at=utc(2026, 11, 1, 5, 59), zone=NEW_YORK, hours=SendingHours(time(1, 10), time(1, 20)))
def test_next_permitted_is_the_first_permitted_time(
    at: datetime, zone: ZoneInfo, hours: SendingHours
) -> None:
    later = next_permitted(at, zone, hours)
    assert later >= at
    assert is_permitted(later, zone, hours)
    assert later - at < timedelta(days=2)
    if later == at:
        return
    assert not is_permitted(at, zone, hours)
    assert not is_permitted(later - timedelta(microseconds=1), zone, hours)
    minute = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute < later:
        assert not is_permitted(minute, zone, hours), minute
        minute += timedelta(minutes=1)

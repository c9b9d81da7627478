"""The shift plan's reader (services/cases/plan_reads.py) on the real store (SQLite and
PostgreSQL), the clock injected: shifts in time order, not grouped by team; visits in
visiting order; the flag at 59 minutes of window left and not at 61; names, phones and
places only for roles that may see the person, and that read in the audit log."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from schemas.accounts import Role
from services.accounts.roles import Principal
from services.cases.plan_reads import (
    ShiftSheet,
    choose_shifts,
    little_window_left,
    read_plan,
)
from services.cases.replanning import plan_program
from services.crypto.fields import FieldCipher
from services.programs import Program, parse_programs
from services.store.repository import Store
from services.store.tables import audit_log, events
from tests.integration.engine_support import Scenario, overdose

NY = ZoneInfo("America/New_York")
PROGRAM_TOML = """
[[program]]
id = "example"
name = "Plan County QRT"
timezone = "America/New_York"
county_fips = ["54011"]
agency_ids = ["EMS-1", "PD-1"]

[[program.team]]
id = "day"
name = "Day team"
capacity_per_shift = 2
[[program.team.shift]]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "09:00"
end = "17:00"

[[program.team]]
id = "evening"
name = "Evening team"
capacity_per_shift = 2
[[program.team.shift]]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "13:00"
end = "21:00"
"""


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NY).astimezone(UTC)


NOW = local(2026, 11, 16, 7, 0)  # a Monday, 07:00 in New York: before the day shift
WINDOW = timedelta(hours=72)  # the default window: due 72 h after the overdose
DANA = {"first_name": "Dana", "last_name": "Planfield", "dob": "1988-02-03",
        "phone": "(304) 555-0188",
        "address": {"address": "9 Home Road", "city": "Huntington", "state": "WV",
                    "zip": "25701"}}  # fmt: skip
SCENE = {"address": "40 River Street", "city": "Huntington", "state": "WV", "zip": "25701",
         "county_fips": "54011", "lat": 38.4192, "lon": -82.4452,
         "description": "behind the library"}  # fmt: skip
AT_HOME = {"address": "7 Elm Court", "city": "Huntington", "state": "WV", "zip": "25702",
           "county_fips": "54011"}  # fmt: skip
EVAN = {"first_name": "Evan", "last_name": "Homewood", "dob": "1979-06-07",
        "address": {"address": "7 Elm Court", "city": "Huntington", "state": "WV",
                    "zip": "25702"}}  # fmt: skip


def member(role: Role) -> Principal:
    return Principal(user_id=f"u-{role.value}", username=role.value, roles={"example": role})


def seeded(store: Store, cipher: FieldCipher) -> tuple[Program, dict[str, str]]:
    """Five cases, planned at NOW (capacity 2 a shift): `59 min` and `61 min` in Monday's
    day shift (their windows close at 09:59 and 10:01, the shift starts at 09:00); the
    three with long windows, soonest due first, in Monday's evening shift (two) and
    Tuesday's day shift (one). Case ids by label."""
    scene = Scenario(store, cipher, now=NOW)
    scene.programs = parse_programs(PROGRAM_TOML)
    program = scene.programs.programs[0]
    reports = {
        "59 min": overdose(at=local(2026, 11, 16, 9, 59) - WINDOW, patient=DANA, location=SCENE),
        "61 min": overdose(at=local(2026, 11, 16, 10, 1) - WINDOW, patient=EVAN, location=AT_HOME),
        "30 h ago": overdose(at=NOW - timedelta(hours=30)),
        "25 h ago": overdose(at=NOW - timedelta(hours=25)),
        "20 h ago": overdose(at=NOW - timedelta(hours=20)),
    }  # fmt: skip
    for record in reports.values():
        scene.report(record)
    assert plan_program(store, program, NOW) == len(reports)
    with store.engine.connect() as conn:
        ids = {
            r.event_id: r.case_id for r in conn.execute(select(events.c.event_id, events.c.case_id))
        }
    return program, {label: str(ids[r.event.event_id]) for label, r in reports.items()}


def shown(sheets: list[ShiftSheet]) -> list[tuple[str, str, list[str]]]:
    """(team, local start, case ids in order) of each shift."""
    return [
        (s.team_id, s.start.astimezone(NY).strftime("%a %H:%M"), [v.item.case_id for v in s.visits])
        for s in sheets
    ]


def plan_reads_of(store: Store) -> list[dict[str, object]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.action == "plan_read")).all()
    return [{"actor": r.actor, "subject": r.subject_id, **json.loads(r.detail)} for r in rows]


def test_the_flag_is_set_under_an_hour_of_window_left_and_not_at_an_hour() -> None:
    start = local(2026, 11, 16, 9, 0)
    assert little_window_left(start, start + timedelta(minutes=59))
    assert little_window_left(start, start + timedelta(minutes=59, seconds=59))
    assert not little_window_left(start, start + timedelta(minutes=60))
    assert not little_window_left(start, start + timedelta(minutes=61))
    assert little_window_left(start, start - timedelta(minutes=5)), "past due: no window left"


def test_today_and_the_next_shift_in_time_order_with_the_flag_and_the_audit_row(
    store: Store, cipher: FieldCipher
) -> None:
    program, ids = seeded(store, cipher)
    choice = choose_shifts(program, None, None, NOW)
    sheets = read_plan(store, cipher, program, member(Role.COORDINATOR), choice, NOW)
    # time order: Monday's day shift, Monday's evening shift, then the next shift after
    # today (Tuesday's day shift); grouped by team, Tuesday's day shift would come second
    assert shown(sheets) == [
        ("day", "Mon 09:00", [ids["59 min"], ids["61 min"]]),
        ("evening", "Mon 13:00", [ids["30 h ago"], ids["25 h ago"]]),
        ("day", "Tue 09:00", [ids["20 h ago"]]),
    ]
    assert (sheets[0].start, sheets[0].end) == (
        local(2026, 11, 16, 9),
        local(2026, 11, 16, 17),
    )
    first, second = sheets[0].visits
    assert (first.visit_from, first.visit_until) == (
        local(2026, 11, 16, 9),
        local(2026, 11, 16, 9, 59),
    )
    assert (first.little_window, first.minutes_left) == (True, 59)
    assert (second.little_window, second.minutes_left) == (False, 61)
    assert not any(v.little_window for s in sheets[1:] for v in s.visits)
    # who and where, for a coordinator
    assert (first.name, first.phone) == ("Dana Planfield", "(304) 555-0188")
    assert [(p.kind, p.where.address, p.source) for p in first.places] == [
        ("scene", "40 River Street", "ems"), ("residence", "9 Home Road", "ems"),
    ]  # fmt: skip
    scene = first.places[0].where
    assert (getattr(scene, "lat", None), getattr(scene, "lon", None)) == (38.4192, -82.4452)
    assert getattr(scene, "description", None) == "behind the library"
    assert [(p.kind, p.also_residence) for p in second.places] == [("scene", True)], (
        "an overdose at home: one place, said to be both"
    )
    # the read of persons and places is in the audit log, with the cases shown
    assert plan_reads_of(store) == [
        {"actor": "user:coordinator", "subject": "example", "cases": sorted(ids.values())}
    ]


def test_one_team_one_day_and_a_day_with_an_empty_shift(store: Store, cipher: FieldCipher) -> None:
    program, ids = seeded(store, cipher)
    coordinator = member(Role.COORDINATOR)
    day_team = read_plan(
        store, cipher, program, coordinator, choose_shifts(program, "day", None, NOW), NOW
    )
    assert shown(day_team) == [
        ("day", "Mon 09:00", [ids["59 min"], ids["61 min"]]),
        ("day", "Tue 09:00", [ids["20 h ago"]]),
    ]
    tuesday = choose_shifts(program, None, date(2026, 11, 17), NOW)
    assert shown(read_plan(store, cipher, program, coordinator, tuesday, NOW)) == [
        ("day", "Tue 09:00", [ids["20 h ago"]]),
        ("evening", "Tue 13:00", []),  # configured, nothing planned: shown as such
    ]
    evening_monday = choose_shifts(program, "evening", date(2026, 11, 16), NOW)
    assert shown(read_plan(store, cipher, program, coordinator, evening_monday, NOW)) == [
        ("evening", "Mon 13:00", [ids["30 h ago"], ids["25 h ago"]]),
    ]
    # later the same day, the day shift is over: the default view leaves it out
    evening = local(2026, 11, 16, 17, 30)
    later = read_plan(
        store, cipher, program, coordinator, choose_shifts(program, None, None, evening), evening
    )
    assert [(t, when) for t, when, _ in shown(later)] == [
        ("evening", "Mon 13:00"),
        ("day", "Tue 09:00"),
    ]
    assert len(plan_reads_of(store)) == 4, "each read of persons is audited"


def test_a_program_manager_sees_no_one_and_law_enforcement_no_tier(
    store: Store, cipher: FieldCipher
) -> None:
    program, ids = seeded(store, cipher)
    choice = choose_shifts(program, None, None, NOW)
    manager = read_plan(store, cipher, program, member(Role.PROGRAM_MANAGER), choice, NOW)
    visits = [v for s in manager for v in s.visits]
    assert sorted(v.item.case_id for v in visits) == sorted(ids.values())
    assert all(v.name is None and v.phone is None and v.places == () for v in visits)
    assert {v.item.tier for v in visits} == {"new"}
    assert visits[0].little_window, "the flag is for every role"
    assert plan_reads_of(store) == [], "no personal data read, nothing to audit"
    officer = read_plan(store, cipher, program, member(Role.LAW_ENFORCEMENT), choice, NOW)
    seen = [v for s in officer for v in s.visits]
    assert {v.item.tier for v in seen} == {"follow-up"}
    assert seen[0].name == "Dana Planfield" and seen[0].places
    assert [r["actor"] for r in plan_reads_of(store)] == ["user:law_enforcement"]

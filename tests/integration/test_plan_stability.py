"""Plans stand still at every hour: the store's re-plan of an unchanged program writes
nothing while every slot holds, whatever the time of day, inside and outside a shift,
across midnight in the program's zone and on the days the clocks change. Clock injected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from services.cases.replanning import plan_program
from services.crypto.fields import FieldCipher
from services.planning.shifts import shifts_between
from services.programs import parse_programs
from services.store.repository import Store
from services.store.tables import case_events, cases
from tests.integration.engine_support import PROGRAM_TOML, Scenario, overdose

NY = ZoneInfo("America/New_York")
TEAMS = (
    PROGRAM_TOML
    + """
[[program.team]]
id = "night"
name = "Night team"
capacity_per_shift = 2
[[program.team.shift]]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "22:00"
end = "06:00"
"""
)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY).astimezone(UTC)  # type: ignore[misc]


MOMENTS = {
    "03:00, inside the night shift": local(2026, 11, 18, 3, 0),
    "11:00, inside the day shift": local(2026, 11, 18, 11, 0),
    "15:00, inside the day shift": local(2026, 11, 18, 15, 0),
    "19:30, between shifts": local(2026, 11, 18, 19, 30),
    "23:30, the night shift across midnight": local(2026, 11, 18, 23, 30),
    "spring forward, 01:50 EST": local(2027, 3, 14, 1, 50),
    "spring forward, 03:10 EDT": local(2027, 3, 14, 3, 10),
    "fall back, 01:30 EDT (the first)": datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
    "fall back, 01:30 EST (the second)": datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
}
LATER = (timedelta(minutes=1), timedelta(minutes=7), timedelta(minutes=9, seconds=59))


def planned_rows(store: Store) -> list[tuple[object, ...]]:
    with store.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(
                    cases.c.id, cases.c.version, cases.c.planned_team_id,
                    cases.c.planned_shift_start, cases.c.planned_visit_from,
                    cases.c.planned_visit_until, cases.c.at_risk_reason,
                ).order_by(cases.c.id)
            )
        ]  # fmt: skip


def event_count(store: Store) -> int:
    with store.engine.connect() as conn:
        return len(conn.execute(select(case_events.c.seq)).all())


@pytest.mark.parametrize("now", MOMENTS.values(), ids=MOMENTS.keys())
def test_a_re_plan_minutes_later_changes_nothing(
    store: Store, cipher: FieldCipher, now: datetime
) -> None:
    scene = Scenario(store, cipher, now=now)
    scene.programs = parse_programs(TEAMS)
    program = scene.programs.programs[0]
    # none of these moments is within 10 minutes before a shift's end: the slots hold
    shifts = shifts_between(program.teams, program.zone, now - timedelta(days=1), now + LATER[-1])
    assert not [s for s in shifts if now < s.end <= now + LATER[-1]]
    hours = (1, 11, 12.5, 13, 14, 20, 30, 40, 50, 60, 70)
    scene.report(*(overdose(at=now - timedelta(hours=h)) for h in hours))
    assert plan_program(store, program, now) > 0
    before, announced = planned_rows(store), event_count(store)
    assert any(r[2] for r in before), "some cases are planned"
    for later in LATER:
        assert plan_program(store, program, now + later) == 0
    assert planned_rows(store) == before, "no version, no slot changed"
    assert event_count(store) == announced, "no case event"


def test_a_shift_that_ends_moves_only_its_own_cases(store: Store, cipher: FieldCipher) -> None:
    """With room in every shift (no case competes for a place), the end of a shift
    re-plans the cases it held and no other."""
    now = local(2026, 11, 18, 16, 30)  # the day shift ends at 17:00
    scene = Scenario(store, cipher, now=now)
    scene.programs = parse_programs(
        TEAMS.replace("capacity_per_shift = 2", "capacity_per_shift = 9")
    )
    program = scene.programs.programs[0]
    scene.report(*(overdose(at=now - timedelta(hours=h)) for h in (2, 5, 13, 14, 40)))
    plan_program(store, program, now)
    before = {r[0]: r for r in planned_rows(store)}
    after_end = local(2026, 11, 18, 17, 1)
    plan_program(store, program, after_end)
    after = {r[0]: r for r in planned_rows(store)}
    moved = kept = 0
    for case_id, row in before.items():
        if row[3] == local(2026, 11, 18, 9, 0):
            assert after[case_id][3] != row[3], "its shift ended: planned again"
            moved += 1
        else:
            assert after[case_id] == row, "its slot still holds: untouched"
            kept += 1
    assert moved and kept

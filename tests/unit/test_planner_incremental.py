"""The parts of incremental planning that do no I/O (services/planning/incremental.py): at-risk
cases shape nothing, a run fed one case at a time is `plan_visits`, a part planned with pages
read until every shift is full gives the full plan's result for every case it read, the
basis of a plan and when a shift ended. The store's side is
tests/integration/test_plan_incremental.py."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.planning.incremental import plan_basis, plan_part, shift_ended
from services.planning.planner import Plan, PlanCase, PlanRun, plan_visits, priority_key
from services.planning.shifts import Shift, TeamConfig
from tests.unit.test_planner import PROPERTY, scenarios

NY = ZoneInfo("America/New_York")
Scenario = tuple[list[PlanCase], list[Shift], datetime]


def restricted(plan: Plan, ids: set[str]) -> Plan:
    return Plan(
        slots={k: v for k, v in plan.slots.items() if k in ids},
        at_risk={k: v for k, v in plan.at_risk.items() if k in ids},
    )


@PROPERTY
@given(scenarios(), st.randoms(use_true_random=False))
def test_at_risk_cases_shape_nothing(scenario: Scenario, rng: random.Random) -> None:
    """Planning the placed cases and any of the at-risk ones gives the full plan on them."""
    cases, shifts, now = scenario
    full = plan_visits(cases, shifts, now)
    kept = [c for c in cases if c.case_id in full.slots or rng.random() < 0.5]
    ids = {c.case_id for c in kept}
    assert plan_visits(kept, shifts, now) == restricted(full, ids)


@PROPERTY
@given(scenarios())
def test_a_run_fed_in_priority_order_is_plan_visits(scenario: Scenario) -> None:
    cases, shifts, now = scenario
    places = sum(s.capacity for s in shifts if s.end > now)
    run = PlanRun(shifts, now)
    for case in sorted(cases, key=priority_key):
        run.add(case)
        assert run.saturated == (len(run.plan().slots) == places)  # every place taken
    assert run.plan() == plan_visits(cases, shifts, now)


def test_a_run_refuses_cases_out_of_order_and_twice() -> None:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    first = PlanCase("a", 0, now, now + timedelta(hours=4), now)
    later = PlanCase("b", 1, now, now + timedelta(hours=4), now)
    run = PlanRun([Shift("t", now, now + timedelta(hours=8), 1)], now)
    run.add(later)
    with pytest.raises(ValueError, match="comes before the case added last"):
        run.add(first)
    with pytest.raises(ValueError, match="listed twice"):
        run.add(later)


def _pages(
    cases: Sequence[PlanCase], start: tuple[object, ...], size: int, asked: list[int]
) -> Iterator[list[PlanCase]]:
    after = [c for c in sorted(cases, key=priority_key) if priority_key(c) >= start]
    for i in range(0, len(after), size):
        asked.append(i // size)
        yield after[i : i + size]


@PROPERTY
@given(scenarios(), st.randoms(use_true_random=False), st.integers(1, 4))
def test_a_part_with_pages_gives_the_full_plan_of_every_case_it_read(
    scenario: Scenario, rng: random.Random, size: int
) -> None:
    """`must` holds every placed case (as the store's part does); the pages start anywhere.
    Every case read gets the full plan's result, and no page is read once shifts are full."""
    cases, shifts, now = scenario
    if not cases:
        return
    full = plan_visits(cases, shifts, now)
    must = [c for c in cases if c.case_id in full.slots or rng.random() < 0.3]
    start = priority_key(rng.choice(cases))
    asked: list[int] = []
    part = plan_part(must, shifts, now, start, _pages(cases, start, size, asked))
    ids = set(part.slots) | set(part.at_risk)
    assert {c.case_id for c in must} <= ids
    assert part == restricted(full, ids)
    after = sum(priority_key(c) >= start for c in cases)
    if len(asked) < -(-after // size):  # a page left unread: every place was taken
        assert len(full.slots) == sum(s.capacity for s in shifts if s.end > now)


def test_a_part_stops_reading_pages_once_every_shift_is_full() -> None:
    now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    shifts = [Shift("t", now, now + timedelta(hours=8), 2)]
    cases = [
        PlanCase(f"c{i:02d}", 0, now, now + timedelta(hours=4, minutes=i), now) for i in range(20)
    ]
    asked: list[int] = []
    start = priority_key(cases[0])
    part = plan_part([], shifts, now, start, _pages(cases, start, 3, asked))
    assert asked == [0]  # the first page fills the shift: no second page is read
    assert set(part.slots) == {"c00", "c01"} and set(part.at_risk) == {"c02"}
    assert part == restricted(plan_visits(cases, shifts, now), {"c00", "c01", "c02"})


def _team(capacity: int = 2, start: str = "08:00", end: str = "16:00") -> TeamConfig:
    return TeamConfig.model_validate(
        {
            "id": "day",
            "name": "Day",
            "capacity_per_shift": capacity,
            "shift": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": start, "end": end}],
        }
    )


def test_the_basis_of_a_plan_is_its_teams_and_zone() -> None:
    basis = plan_basis([_team()], NY)
    assert basis == plan_basis([_team()], ZoneInfo("America/New_York"))
    assert basis != plan_basis([_team(capacity=3)], NY)
    assert basis != plan_basis([_team(end="17:00")], NY)
    assert basis != plan_basis([_team()], ZoneInfo("America/Chicago"))
    assert basis != plan_basis([], NY)


def test_a_shift_ended_when_one_usable_before_is_not_any_more() -> None:
    end = datetime(2026, 1, 5, 16, tzinfo=NY).astimezone(UTC)  # Monday 16:00 in New York
    teams, second = [_team()], timedelta(seconds=1)
    assert shift_ended(teams, NY, end - second, end)  # ends at `now`: no longer usable
    assert shift_ended(teams, NY, end - timedelta(hours=3), end + timedelta(hours=3))
    assert not shift_ended(teams, NY, end, end + timedelta(hours=3))  # ended already
    assert not shift_ended(teams, NY, end - timedelta(hours=3), end - second)
    assert not shift_ended(teams, NY, end - timedelta(days=1) + second, end - second)

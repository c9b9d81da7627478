"""Incremental planning gives the full plan, on the real store (SQLite and PostgreSQL).

After any sequence of changes to a program's cases -- new cases, tier and window changes,
closes, missed windows and their undoing, deletes, time passing across shifts and deadlines
-- the plan that `replan_program` stores (reading only the part the change log says can
move) is, case by case, the full planner's plan of every open case, and a twin program
planned in full at every step stores the same plan and announces the same events. The
change log itself: what the triggers record, what they leave out, and the fall-back to the
full plan when they are missing or the teams changed. Clock injected; no sleeping."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, text, update

from services.cases import plan_rows
from services.cases.replanning import plan_program, replan_program
from services.planning.planner import PlanCase, plan_visits
from services.planning.shifts import TeamConfig, shifts_between
from services.programs import Program
from services.store.database import _alembic_config, make_engine, migrate
from services.store.plan_changes import change_log_kept
from services.store.repository import Store
from services.store.tables import case_events, cases, plan_changes

NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 16, 14, 0, tzinfo=UTC)  # a Monday, 09:00 in New York
TIERS = ("new", "unlocated", "deferred")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
PATTERNS = {
    "day": {"days": WEEKDAYS, "start": "08:00", "end": "16:00"},
    "evening": {"days": [*WEEKDAYS, "sat"], "start": "14:00", "end": "22:00"},
    "night": {"days": ["sun", *WEEKDAYS, "sat"], "start": "22:00", "end": "06:00"},  # overnight
}
_programs = itertools.count(1)


def team(name: str, capacity: int) -> TeamConfig:
    return TeamConfig.model_validate(
        {"id": name, "name": name, "capacity_per_shift": capacity, "shift": [PATTERNS[name]]}
    )


def program(prefix: str, n: int, teams: list[TeamConfig]) -> Program:
    return Program(id=f"{prefix}{n:05d}", name="Twin", timezone=NY.key, teams=teams)


# --- what is drawn: the teams, the cases, the changes and the time between plans ----------

window_specs = st.one_of(
    st.tuples(st.just("visit"), st.integers(0, 72 * 4)),  # overdose 0-72 h ago: 12-72 h after
    st.tuples(st.just("checkin"), st.integers(-8, 96), st.integers(1, 96)),  # a check-in
)
changes = st.one_of(
    st.tuples(st.just("new"), st.integers(0, 2), window_specs),
    st.tuples(st.just("tier"), st.integers(0, 999), st.integers(0, 2)),
    st.tuples(st.just("window"), st.integers(0, 999), window_specs),
    st.tuples(st.sampled_from(["close", "miss", "unmiss", "delete"]), st.integers(0, 999)),
)
steps = st.tuples(
    st.lists(changes, max_size=5),
    st.one_of(st.sampled_from([0, 1, 7, 30]), st.integers(0, 14 * 60)),  # minutes later
)


def window(spec: tuple[Any, ...], now: datetime) -> tuple[datetime, datetime, datetime]:
    """(occurred_at, opens_at, due_at)"""
    if spec[0] == "visit":
        occurred = now - spec[1] * timedelta(minutes=15)
        return occurred, occurred + timedelta(hours=12), occurred + timedelta(hours=72)
    opens = now + spec[1] * timedelta(minutes=30)
    return now - timedelta(days=3), opens, opens + spec[2] * timedelta(minutes=30)


@dataclass
class Twins:
    """Program a planned incrementally, b in full, the same cases (ids a.../b..., same order)."""

    store: Store
    a: Program
    b: Program
    now: datetime
    count: int = 0

    def ids(self, index: int) -> tuple[str, str] | None:
        if not self.count:
            return None
        n = index % self.count
        return f"{self.a.id}-{n:04d}", f"{self.b.id}-{n:04d}"

    def apply(self, change: tuple[Any, ...]) -> None:
        with self.store.transaction() as conn:
            if change[0] == "new":
                occurred, opens, due = window(change[2], self.now)
                n, self.count = self.count, self.count + 1
                conn.execute(
                    insert(cases),
                    [
                        {
                            "id": f"{p.id}-{n:04d}", "program_id": p.id, "status": "open",
                            "tier": TIERS[change[1]], "tier_rank": change[1],
                            "occurred_at": occurred, "window_opens_at": opens,
                            "window_due_at": due, "opened_at": self.now, "updated_at": self.now,
                        }
                        for p in (self.a, self.b)
                    ],
                )  # fmt: skip
                return
            ids = self.ids(change[1])
            if ids is None:
                return
            where = cases.c.id.in_(ids)
            if change[0] == "delete":
                conn.execute(delete(case_events).where(case_events.c.case_id.in_(ids)))
                conn.execute(delete(cases).where(where))
                return
            conn.execute(update(cases).where(where).values(**self._values(change)))

    def _values(self, change: tuple[Any, ...]) -> dict[str, Any]:
        unplanned = {k: None for k in plan_rows.PLAN_COLUMNS}
        kind = change[0]
        if kind == "tier":
            return {"tier": TIERS[change[2]], "tier_rank": change[2]}
        if kind == "window":
            occurred, opens, due = window(change[2], self.now)
            return {"occurred_at": occurred, "window_opens_at": opens, "window_due_at": due}
        if kind == "close":  # as an outcome does
            return {"status": "closed", "closed_at": self.now, "outcome": "other", **unplanned}
        if kind == "miss":  # as the missed-window timer does (the reason stays)
            return {"missed_at": self.now, **unplanned, "at_risk_reason": cases.c.at_risk_reason}
        return {"missed_at": None}  # unmiss: a later overdose moved the window

    def stored(self, p: Program) -> dict[str, tuple[Any, ...]]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(cases.c.id, *(cases.c[k] for k in plan_rows.PLAN_COLUMNS)).where(
                    cases.c.program_id == p.id
                )
            )
            return {r.id.split("-")[1]: tuple(r[1:]) for r in rows}

    def full_plan(self, p: Program) -> dict[str, tuple[Any, ...]]:
        """What the full planner gives every open case now, as the store keeps it."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(cases).where(cases.c.program_id == p.id)).all()
        open_ = [
            PlanCase(r.id, r.tier_rank, r.window_opens_at, r.window_due_at, r.occurred_at)
            for r in rows
            if r.status == "open" and r.missed_at is None
        ]
        horizon = max([self.now, *(c.due_at for c in open_)])
        plan = plan_visits(open_, shifts_between(p.teams, p.zone, self.now, horizon), self.now)
        result: dict[str, tuple[Any, ...]] = {}
        for c in open_:
            slot, reason = plan.slots.get(c.case_id), plan.at_risk.get(c.case_id)
            result[c.case_id.split("-")[1]] = (
                (slot.team_id, slot.shift_start, slot.slot_from, slot.visit_until, None)
                if slot
                else (None, None, None, None, reason.value if reason else None)
            )
        return result

    def events(self, p: Program) -> Counter[tuple[str, str, str]]:
        """The program's case events: (kind, case, the plan they tell). (A deleted case's
        events go with it, and SQLite may then give their numbers again: so no cursor.)"""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(case_events.c.case_id, case_events.c.kind, case_events.c.payload).where(
                    case_events.c.program_id == p.id
                )
            ).all()
        told = [(r, json.loads(r.payload)) for r in rows]
        return Counter(
            (r.kind, r.case_id.split("-")[1], json.dumps([e["planned"], e["at_risk_reason"]]))
            for r, e in told
        )


def _shift_ended(p: Program, since: datetime, now: datetime) -> bool:
    return any(since < s.end <= now for s in shifts_between(p.teams, p.zone, since, now))


def check_step(twins: Twins, since: datetime | None) -> None:
    before = {p.id: twins.events(p) for p in (twins.a, twins.b)}
    done = replan_program(twins.store, twins.a, twins.now)
    changed_in_full = plan_program(twins.store, twins.b, twins.now)
    stored = twins.stored(twins.a)
    assert stored == twins.stored(twins.b)
    full = twins.full_plan(twins.a)
    assert {k: stored[k] for k in full} == full
    assert done.changed == changed_in_full
    told = [twins.events(p) - before[p.id] for p in (twins.a, twins.b)]
    assert told[0] == told[1], "the same planned and at_risk events"
    if since is not None and twins.now >= since and not _shift_ended(twins.a, since, twins.now):
        assert done.incremental, "the stored plan and the change log allowed a part"
    event("incremental" if done.incremental else "full")
    if done.incremental:
        event("read a part" if done.read < len(full) else "read every open case")


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_rows, "PAGE", 2)  # pages read until shifts are full, 2 at a time


def test_incremental_plans_are_the_full_plan(store: Store, small_pages: None) -> None:
    examples = 60 if store.engine.dialect.name == "sqlite" else 25

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(
        capacities=st.fixed_dictionaries({}, optional={k: st.integers(1, 3) for k in PATTERNS}),
        start=st.integers(0, 7 * 48),
        initial=st.lists(st.tuples(st.integers(0, 2), window_specs), max_size=14),
        plan_steps=st.lists(steps, min_size=1, max_size=6),
    )
    def run(
        capacities: dict[str, int],
        start: int,
        initial: list[tuple[int, tuple[Any, ...]]],
        plan_steps: list[tuple[list[tuple[Any, ...]], int]],
    ) -> None:
        teams = [team(name, n) for name, n in sorted(capacities.items())]
        n = next(_programs)
        twins = Twins(store, program("a", n, teams), program("b", n, teams), T0)
        twins.now = T0 + start * timedelta(minutes=30)
        for rank, spec in initial:
            twins.apply(("new", rank, spec))
        check_step(twins, None)
        note(f"teams {capacities}, at {twins.now}, cases {initial}")
        for batch, minutes in plan_steps:
            note(f"{minutes} min later: {batch}")
            since = twins.now
            twins.now += timedelta(minutes=minutes)
            for change in batch:
                twins.apply(change)
            check_step(twins, since)
        assert plan_program(store, twins.a, twins.now) == 0, "the stored plan is the full plan"

    run()


# --- the change log -----------------------------------------------------------------------


def _log(store: Store, p: Program) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        c = plan_changes.c
        return [
            tuple(r)
            for r in conn.execute(
                select(c.case_id, c.was_placed, c.old_tier_rank, c.old_due_at)
                .where(c.program_id == p.id)
                .order_by(c.id)
            )
        ]


def _scene(store: Store, capacity: int = 1) -> Twins:
    n = next(_programs)
    teams = [team("day", capacity)]
    twins = Twins(store, program("a", n, teams), program("b", n, teams), T0)
    # Monday 09:00 in New York; one place a weekday 08:00-16:00. The first case fits the
    # shifts of Monday to Wednesday, the two others Monday's only (due Tuesday 06:45, 07:00).
    for spec in (("visit", 60), ("visit", 201), ("visit", 200)):
        twins.apply(("new", 0, spec))
    return twins


def test_the_change_log_holds_every_change_a_plan_depends_on_and_nothing_else(
    store: Store,
) -> None:
    twins = _scene(store)
    first, second, third = (f"{twins.a.id}-{n:04d}" for n in range(3))
    assert [(r[0], bool(r[1]), r[2]) for r in _log(store, twins.a)] == [
        (first, False, None), (second, False, None), (third, False, None),
    ]  # fmt: skip
    assert plan_program(store, twins.a, twins.now) == 3
    assert _log(store, twins.a) == [], "planned: the log is read and emptied"
    placed = {k: v[0] is not None for k, v in twins.stored(twins.a).items()}
    assert placed == {"0000": True, "0001": True, "0002": False}
    with store.transaction() as conn:  # not an input of the plan: not logged
        conn.execute(update(cases).where(cases.c.id == first).values(owner_user_id="u1"))
        conn.execute(update(cases).where(cases.c.id == first).values(tier_rank=0))  # the same
    assert _log(store, twins.a) == []
    with store.engine.connect() as conn:
        due = dict(conn.execute(select(cases.c.id, cases.c.window_due_at)).all())
    twins.apply(("tier", 1, 2))  # the second, placed, goes behind the third
    twins.apply(("close", 0))
    assert _log(store, twins.a) == [(second, True, 0, due[second]), (first, True, 0, due[first])]
    done = replan_program(store, twins.a, twins.now)
    assert done.incremental and done.changed == 2  # the third takes Monday, the second is at risk
    assert _log(store, twins.a) == []
    assert twins.stored(twins.a)["0001"][4] == "capacity_full"
    assert twins.stored(twins.a)["0002"][0] == "day"


MIN = timedelta(minutes=1)


def test_without_its_triggers_or_on_other_teams_the_plan_is_made_in_full(store: Store) -> None:
    twins = _scene(store)
    assert not replan_program(store, twins.a, twins.now).incremental  # no plan stored yet
    twins.apply(("new", 1, ("visit", 10)))
    assert replan_program(store, twins.a, twins.now).incremental
    more = twins.a.model_copy(update={"teams": [team("day", 2)]})
    done = replan_program(store, more, twins.now)
    assert not done.incremental and done.changed == 2, "two places a shift: all re-made"
    assert twins.stored(twins.a) == twins.full_plan(more)
    postgresql = store.engine.dialect.name == "postgresql"
    with store.transaction() as conn:
        conn.execute(text("DROP TRIGGER plan_changes_update" + (" ON cases" if postgresql else "")))
    twins.apply(("window", 3, ("checkin", 144, 4)))  # Thursday's shift only: not logged now
    done = replan_program(store, more, twins.now)
    assert not done.incremental and done.changed == 1
    assert twins.stored(twins.a) == twins.full_plan(more)
    assert twins.stored(twins.a)["0003"][1] == T0 + timedelta(days=3, hours=-1)  # Thu 08:00


def test_a_new_process_goes_on_from_the_stored_plan(store: Store, database_url: str) -> None:
    """The stored plan and the log are the state: a restarted planner plans a part."""
    twins = _scene(store)
    plan_program(store, twins.a, twins.now)
    twins.apply(("new", 0, ("visit", 30)))
    again = Store(make_engine(database_url))
    try:
        done = replan_program(again, twins.a, twins.now + 5 * MIN)
        assert done.incremental and done.read < 4
    finally:
        again.dispose()
    twins.now += 5 * MIN
    assert twins.stored(twins.a) == twins.full_plan(twins.a)


def test_the_migration_goes_down_and_up_again_with_its_triggers(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    config = _alembic_config(engine)
    command.downgrade(config, "0016")
    with engine.connect() as conn:
        assert not change_log_kept(conn)
    command.upgrade(config, "head")
    with engine.connect() as conn:
        assert change_log_kept(conn)
    engine.dispose()

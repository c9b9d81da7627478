"""Re-planning a program: the planner runs on every change, the store keeps its result.

A change (a new case, an attempt, an outcome, a missed window) requests a plan
for its program (`program_state.plan_requested_at`); the timer worker plans
requested programs every second, and every program in full every few minutes as
shifts pass. A requested plan reads only the part of the program that the changes
logged since the stored plan can move (`plan_changes`, kept by triggers on `cases`;
services/planning/incremental.py says why that gives exactly the full plan), or
every open case when it cannot. Only what changed is written, each change announced
as a `planned` or `at_risk` case event. Missed cases are not planned.

What is stored is the slot (`planned_visit_from` = the later of the shift's start
and the window's opening), never its clamp to the moment of planning: a re-plan
of an unchanged program at a later moment writes nothing while every slot still
holds (services/planning/planner.py, "Stable in time"). Reads clamp it to their
own moment (`case_records.planned_of`).

One plan of a program at a time, reading one state of it: on PostgreSQL the planner
holds the program's `program_state` row (writers of its cases take it first); on
SQLite it opens its write transaction before it reads (one writer at a time).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, or_, select, update
from sqlalchemy.dialects import sqlite

from schemas.cases import CaseEventKind
from services.cases import plan_rows
from services.cases.plan_rows import PLAN_COLUMNS, key_of, plan_case
from services.core.priority import PriorityKey
from services.planning.incremental import plan_basis, plan_part, shift_ended
from services.planning.planner import Plan, PlanCase, plan_visits
from services.planning.shifts import shifts_between
from services.programs import Program, Programs
from services.runtime.retry import describe, is_transient
from services.store.case_records import Announcement, announce_many, lock_programs
from services.store.plan_changes import PlanChange, change_log_kept, forget_changes, read_changes
from services.store.repository import Store
from services.store.tables import cases, program_state

log = logging.getLogger(__name__)
MAX_CHANGED = 4000  # more changed cases than this: reading every open case costs no more


@dataclass(frozen=True)
class Replanned:
    changed: int  # cases whose plan changed: written and announced
    incremental: bool  # only the part the logged changes can move was read and planned
    read: int  # open cases read


def plan_program(store: Store, program: Program, now: datetime) -> int:
    """Plan every open case of the program; return how many cases changed."""
    return _plan(store, program, now, incremental=False).changed


def replan_program(store: Store, program: Program, now: datetime) -> Replanned:
    """Plan the program after changes: only the part they can move when the store allows
    it, else every open case; the same plan either way."""
    return _plan(store, program, now, incremental=True)


def _plan(store: Store, program: Program, now: datetime, *, incremental: bool) -> Replanned:
    basis = plan_basis(program.teams, program.zone)
    with store.transaction() as conn:
        _hold(conn, program)
        logged = read_changes(conn, program.id)
        part = _part(conn, program, now, basis, logged) if incremental else None
        if part is None:
            rows = plan_rows.open_rows(conn, program.id)
            plan = _plan_of(rows, program, now)
        else:
            rows, plan = part
        changes, news = plan_changes(rows, plan)
        if changes:
            conn.execute(
                update(cases)
                .where(cases.c.id == bindparam("b_id"))
                .values(
                    **{k: bindparam(f"b_{k}") for k in PLAN_COLUMNS},
                    updated_at=now,
                    version=cases.c.version + 1,
                ),
                changes,
            )
            announce_many(conn, news, now)
        forget_changes(conn, [c.id for c in logged])
        _mark_planned(conn, program, now, basis)
    return Replanned(len(changes), part is not None, len(rows))


def _hold(conn: Connection, program: Program) -> None:
    """One planner per program, and no change under it while it reads and writes."""
    lock_programs(conn, [program.id])  # PostgreSQL: writers of its cases wait for it
    if conn.dialect.name == "sqlite":  # the write transaction begins here, not at the end
        conn.execute(
            sqlite.insert(program_state)
            .values(program_id=program.id)
            .on_conflict_do_nothing(index_elements=["program_id"])
        )


def _part(
    conn: Connection, program: Program, now: datetime, basis: str, logged: list[PlanChange]
) -> tuple[list[Row[Any]], Plan] | None:
    """The rows of the part the logged changes can move, and their plan; None when the
    store does not allow it (services/planning/incremental.py)."""
    state = conn.execute(
        select(program_state.c.planned_at, program_state.c.plan_basis).where(
            program_state.c.program_id == program.id
        )
    ).first()
    if state is None or state.plan_basis != basis or state.planned_at is None:
        return None
    since: datetime = state.planned_at
    changed = {c.case_id for c in logged}
    if since > now or len(changed) > MAX_CHANGED or not change_log_kept(conn):
        return None
    if shift_ended(program.teams, program.zone, since, now):
        return None
    must = plan_rows.part_rows(conn, program.id, changed, since, now)
    # placed cases that changed: by the log (placed before the change), or by the stored
    # plan (a plan that read a case just before its change placed it after all)
    moved = [
        c.old_key
        for c in logged
        if c.old_key is not None
        and (c.was_placed or (c.case_id in must and must[c.case_id].planned_team_id is not None))
    ]
    moved += [
        key_of(r)
        for r in must.values()
        if r.planned_team_id is not None and since < r.window_due_at <= now
    ]
    start = min(moved, default=None)
    cases_ = [plan_case(r) for r in must.values()]
    if start is None:
        horizon = max((c.due_at for c in cases_), default=now)
        shifts = shifts_between(program.teams, program.zone, now, max(horizon, now))
        return list(must.values()), plan_part(cases_, shifts, now)
    horizon = plan_rows.last_due(conn, program.id) or now
    shifts = shifts_between(program.teams, program.zone, now, max(horizon, now))
    read: list[Row[Any]] = []
    plan = plan_part(cases_, shifts, now, start, _pages(conn, program.id, start, read))
    return [*must.values(), *(r for r in read if r.id not in must)], plan


def _pages(
    conn: Connection, program_id: str, start: PriorityKey, read: list[Row[Any]]
) -> Iterator[list[PlanCase]]:
    for page in plan_rows.pages_from(conn, program_id, start):
        read.extend(page)
        yield [plan_case(r) for r in page]


def _plan_of(rows: Sequence[Row[Any]], program: Program, now: datetime) -> Plan:
    if not rows:
        return Plan(slots={}, at_risk={})
    horizon = max(r.window_due_at for r in rows)
    shifts = shifts_between(program.teams, program.zone, now, max(horizon, now))
    return plan_visits([plan_case(r) for r in rows], shifts, now)


def plan_changes(
    rows: Sequence[Row[Any]], plan: Plan
) -> tuple[list[dict[str, object]], list[Announcement]]:
    """The plan columns of each case whose plan changed, and what to announce of it."""
    changes: list[dict[str, object]] = []
    news: list[Announcement] = []
    for row in rows:
        slot = plan.slots.get(row.id)
        reason = plan.at_risk.get(row.id)
        # the slot, not its clamp to `now`: a later re-plan leaves it as it is
        new = (
            (slot.team_id, slot.shift_start, slot.slot_from, slot.visit_until, None)
            if slot
            else (None, None, None, None, reason.value if reason else None)
        )
        if new == tuple(getattr(row, k) for k in PLAN_COLUMNS):
            continue
        changes.append(
            {"b_id": row.id, **{f"b_{k}": v for k, v in zip(PLAN_COLUMNS, new, strict=True)}}
        )
        if reason is not None:
            news.append((row.id, CaseEventKind.AT_RISK, {"reason": reason.value}))
        else:
            news.append((row.id, CaseEventKind.PLANNED, None))
    return changes, news


def _mark_planned(conn: Connection, program: Program, now: datetime, basis: str) -> None:
    """The program is planned as of `now`, on `basis`: a request made since stays standing."""
    state = program_state.c
    conn.execute(
        update(program_state)
        .where(state.program_id == program.id)
        .values(planned_at=now, plan_basis=basis)
    )
    conn.execute(
        update(program_state)
        .where(
            and_(
                state.program_id == program.id,
                or_(state.plan_requested_at.is_(None), state.plan_requested_at <= now),
            )
        )
        .values(plan_requested_at=None)
    )


def plan_requested(store: Store, programs: Programs, now: datetime) -> list[str]:
    """Plan every program whose plan was requested; return their ids."""
    with store.engine.connect() as conn:
        wanted = [
            r.program_id
            for r in conn.execute(
                select(program_state.c.program_id).where(
                    program_state.c.plan_requested_at.is_not(None)
                )
            )
        ]
    planned = []
    for program_id in sorted(wanted):
        program = programs.get(program_id)
        if program is None:
            continue
        try:
            replan_program(store, program, now)
        except Exception as exc:  # one program's fault never stops the others' plans
            if is_transient(exc):
                raise
            log.error("planning program %s failed: %s", program_id, describe(exc))
            continue
        planned.append(program_id)
    return planned

"""Re-planning a program: the planner runs on every change, the store keeps its result.

A change (a new case, an attempt, an outcome, a missed window) requests a plan
for its program (`program_state.plan_requested_at`); the timer worker plans
requested programs every second, and every program every few minutes as
shifts pass. Only what changed is written, each change announced as a
`planned` or `at_risk` case event. Missed cases are not planned.

What is stored is the slot (`planned_visit_from` = the later of the shift's start
and the window's opening), never its clamp to the moment of planning: a re-plan
of an unchanged program at a later moment writes nothing while every slot still
holds (services/planning/planner.py, "Stable in time"). Reads clamp it to their
own moment (`case_records.planned_of`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, or_, select, update

from schemas.cases import CaseEventKind, CaseStatus
from services.planning.planner import Plan, PlanCase, plan_visits
from services.planning.shifts import shifts_between
from services.programs import Program, Programs
from services.runtime.retry import describe, is_transient
from services.store.case_records import Announcement, announce_many, lock_programs
from services.store.repository import Store
from services.store.tables import cases, program_state

log = logging.getLogger(__name__)
PLAN_COLUMNS = (
    "planned_team_id",
    "planned_shift_start",
    "planned_visit_from",
    "planned_visit_until",
    "at_risk_reason",
)


def plan_program(store: Store, program: Program, now: datetime) -> int:
    """Plan one program's open cases; return how many cases changed."""
    with store.transaction() as conn:
        lock_programs(conn, [program.id])  # one planner per program; writers wait for it
        rows = conn.execute(
            select(cases).where(
                and_(
                    cases.c.program_id == program.id,
                    cases.c.status == CaseStatus.OPEN.value,
                    cases.c.missed_at.is_(None),
                )
            )
        ).all()
        changes, news = plan_changes(rows, _plan_of(rows, program, now))
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
        _mark_planned(conn, program, now)
    return len(changes)


def _plan_of(rows: Sequence[Row[Any]], program: Program, now: datetime) -> Plan:
    if not rows:
        return Plan(slots={}, at_risk={})
    horizon = max(r.window_due_at for r in rows)
    shifts = shifts_between(program.teams, program.zone, now, max(horizon, now))
    return plan_visits(
        [PlanCase(r.id, r.tier_rank, r.window_opens_at, r.window_due_at, r.occurred_at)
         for r in rows],
        shifts,
        now,
    )  # fmt: skip


def plan_changes(
    rows: Sequence[Row[Any]], plan: Plan
) -> tuple[list[dict[str, object]], list[Announcement]]:
    """The plan columns of each case whose plan changed, and what to announce of it."""
    changes: list[dict[str, object]] = []
    news: list[Announcement] = []
    for row in rows:
        slot = plan.slots.get(row.id)
        reason = plan.at_risk.get(row.id)
        new: dict[str, object] = {
            "planned_team_id": slot.team_id if slot else None,
            "planned_shift_start": slot.shift_start if slot else None,
            # the slot, not its clamp to `now`: a later re-plan leaves it as it is
            "planned_visit_from": slot.slot_from if slot else None,
            "planned_visit_until": slot.visit_until if slot else None,
            "at_risk_reason": reason.value if reason else None,
        }
        if all(getattr(row, k) == v for k, v in new.items()):
            continue
        changes.append({"b_id": row.id, **{f"b_{k}": v for k, v in new.items()}})
        if reason is not None:
            news.append((row.id, CaseEventKind.AT_RISK, {"reason": reason.value}))
        else:
            news.append((row.id, CaseEventKind.PLANNED, None))
    return changes, news


def _mark_planned(conn: Connection, program: Program, now: datetime) -> None:
    """The program is planned as of `now`: a request made since stays standing."""
    conn.execute(
        update(program_state)
        .where(
            and_(
                program_state.c.program_id == program.id,
                or_(
                    program_state.c.plan_requested_at.is_(None),
                    program_state.c.plan_requested_at <= now,
                ),
            )
        )
        .values(plan_requested_at=None, planned_at=now)
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
            plan_program(store, program, now)
        except Exception as exc:  # one program's fault never stops the others' plans
            if is_transient(exc):
                raise
            log.error("planning program %s failed: %s", program_id, describe(exc))
            continue
        planned.append(program_id)
    return planned

"""An engaged client's check-in as the case's window, inside the caller's transaction.

While a case is engaged its visit window is the next check-in's: it opens at
`next_checkin_at` and is due `[program.engaged] checkin_due_hours` later (72 by default),
so the planner (services/planning/planner.py, services/cases/replanning.py) places the
case on a shift of that window as it places any visit, and the queue counts down to it.
A case with a cadence moves its check-in `every_days` past each contact recorded
(`after_attempt`, called by services/cases/visits.py::record_attempt); an attempt that did
not reach the client leaves the check-in where it is, so the team tries again in it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, update

from schemas.cases import CaseEventKind, VisitResult
from services.cases.engagement_rules import EngagedSettings, next_after_contact
from services.planning.visit_window import Window
from services.store.case_records import announce, audit
from services.store.tables import cases


def checkin_window(next_checkin_at: datetime, due_after: timedelta) -> Window:
    """[next check-in, next check-in + due_after): the window the planner plans in."""
    return Window(opens_at=next_checkin_at, due_at=next_checkin_at + due_after)


def checkin_values(next_checkin_at: datetime, due_after: timedelta) -> dict[str, object]:
    """The case columns of a next check-in: the check-in, its window, never missed."""
    window = checkin_window(next_checkin_at, due_after)
    return {
        "next_checkin_at": next_checkin_at,
        "window_opens_at": window.opens_at,
        "window_due_at": window.due_at,
        "missed_at": None,
    }


def after_attempt(
    conn: Connection,
    row: Any,
    result: VisitResult,
    at: datetime,
    attempt_no: int,
    actor: str,
    now: datetime,
    checkin_due: timedelta | None,
) -> None:
    """A contact with an engaged client on a cadence: the next check-in moves
    `every_days` past it (audited, announced). Anything else changes nothing."""
    every = row.checkin_every_days
    if row.engaged_at is None or not every or not result.is_contact:
        return
    due = checkin_due
    if due is None:  # not said (the CLI): as long as the check-in's window is now
        same = row.window_opens_at == row.next_checkin_at
        due = row.window_due_at - row.window_opens_at if same else EngagedSettings().checkin_due
    moved = next_after_contact(at, every, now)
    conn.execute(
        update(cases)
        .where(cases.c.id == row.id)
        .values(**checkin_values(moved, due), updated_at=now)  # the attempt's version
    )
    detail: dict[str, str | int | float | None] = {
        "next_checkin_at": moved.isoformat(),
        "every_days": every,
        "after_attempt": attempt_no,
    }
    announce(conn, row.id, CaseEventKind.ENGAGED, now, detail)
    audit(conn, now, actor, "checkin_moved", "case", row.id, dict(detail))

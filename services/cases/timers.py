"""Durable timers: due times live in the store; a sweep fires what is due.

Each case has three timer rows (window_opened, window_at_risk, window_missed).
The sweep claims due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several
sweepers share the work) and fires each with a conditional update (`... WHERE
fired_at IS NULL`) in the same transaction as its effect and its case event, so
a timer fires once: never twice across restarts or concurrent sweepers, never
lost (an unfired row stays due until a sweep commits it).

- window_opened: announces the window is open.
- window_at_risk (default 12 h before due): announced while nobody has been
  contacted; the queue derives "due soon" from the due time itself.
- window_missed: the due time passed without contact: the case is marked
  missed and stays visible as missed (still open, until an outcome closes it).
A timer of a closed case, or a contacted or engaged one (at risk, missed), is
retired silently: no timer marks an engaged client's case missed, and none closes
a case. A timer the store refuses to fire (its data, not an outage) is set aside
with the reason and never stops the others.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import and_, select, update

from schemas.cases import CaseEventKind, CaseStatus
from services.runtime.retry import describe, is_transient
from services.store.case_records import announce, lock_programs, request_plan
from services.store.repository import Store
from services.store.tables import cases, timers

BATCH = 200
log = logging.getLogger(__name__)


def sweep_timers(store: Store, now: datetime, limit: int = BATCH) -> int:
    """Fire due timers (at most `limit`); return how many fired with an effect.

    A batch the store refuses for its data (not an outage, which is raised) is fired
    again one timer at a time: a timer that still cannot fire is set aside with the
    reason (`failed_reason`, logged), and every other one fires."""
    try:
        return _sweep(store, now, limit)
    except Exception as exc:
        if is_transient(exc):
            raise
        log.warning("a batch of timers failed (%s); firing them one by one", describe(exc))
    fired = 0
    with store.engine.connect() as conn:
        due = (
            conn.execute(
                select(timers.c.id)
                .where(and_(timers.c.fired_at.is_(None), timers.c.due_at <= now))
                .order_by(timers.c.due_at, timers.c.id)
                .limit(limit)
            )
            .scalars()
            .all()
        )
    for timer_id in due:
        try:
            fired += _sweep(store, now, 1, only=timer_id)
        except Exception as exc:
            if is_transient(exc):
                raise
            _set_aside(store, timer_id, describe(exc), now)
    return fired


def _set_aside(store: Store, timer_id: int, reason: str, now: datetime) -> None:
    log.error("timer %d cannot fire (%s); set aside", timer_id, reason)
    with store.transaction() as conn:
        conn.execute(
            update(timers)
            .where(and_(timers.c.id == timer_id, timers.c.fired_at.is_(None)))
            .values(fired_at=now, failed_reason=reason[:200])
        )


def _sweep(store: Store, now: datetime, limit: int, only: int | None = None) -> int:
    fired = 0
    with store.transaction() as conn:
        due_now = and_(timers.c.fired_at.is_(None), timers.c.due_at <= now)
        if only is not None:
            due_now = and_(due_now, timers.c.id == only)
        if conn.dialect.name == "postgresql":  # the store's lock order: programs first
            lock_programs(
                conn, conn.execute(select(timers.c.program_id).where(due_now).distinct()).scalars()
            )
        query = (
            select(timers.c.id, timers.c.case_id, timers.c.kind, timers.c.program_id)
            .where(due_now)
            .order_by(timers.c.due_at, timers.c.id)
            .limit(limit)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        due = conn.execute(query).all()
        programs: set[str] = set()
        for timer_id, case_id, kind, program_id in due:
            claimed = conn.execute(
                update(timers)
                .where(and_(timers.c.id == timer_id, timers.c.fired_at.is_(None)))
                .values(fired_at=now)
            ).rowcount
            if claimed != 1:
                continue  # another sweeper fired it first
            case = conn.execute(
                select(cases.c.status, cases.c.first_contact_at, cases.c.window_due_at,
                       cases.c.engaged_at).where(cases.c.id == case_id)
            ).one()  # fmt: skip
            if case.status != CaseStatus.OPEN.value:
                continue
            if kind == "window_opened":
                announce(conn, case_id, CaseEventKind.WINDOW_OPENED, now)
            elif case.first_contact_at is not None or case.engaged_at is not None:
                continue  # contacted, or engaged (never missed: services/cases/engagement.py)
            elif kind == "window_at_risk":
                announce(conn, case_id, CaseEventKind.AT_RISK, now, {"reason": "due_soon"})
            else:
                conn.execute(
                    update(cases)
                    .where(cases.c.id == case_id)
                    .values(
                        missed_at=case.window_due_at,
                        planned_team_id=None,
                        planned_shift_start=None,
                        planned_visit_from=None,
                        planned_visit_until=None,
                        updated_at=now,
                        version=cases.c.version + 1,
                    )
                )
                announce(conn, case_id, CaseEventKind.MISSED, now)
                programs.add(program_id)
            fired += 1
        request_plan(conn, programs, now)
    return fired

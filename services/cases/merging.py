"""One person, one open case: merging the open cases of a person a review linked.

When a coordinator links two persons that both have an open case, the older case
(opened first) survives and takes the other's reports, attempts (numbered after
its own, in time order), reviews, replies and texts; the first attempt and first
contact are the earlier of the two; an owner is kept (the survivor's, else the
other's); the window is the later overdose's. Texts are kept once: of each text
(check-in, reminder, follow-up day N) the one already sent stands and any queued
copy is cancelled; two queued copies leave the survivor's. The other case is
closed with the outcome `merged_into` and a pointer to the survivor; its timers
are retired. All in the caller's transaction, announced and audited."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select, update

from schemas.cases import MERGED_INTO, CaseEventKind, CaseStatus
from schemas.sms import TextState
from services.programs import Program
from services.sms.text_reads import text_slot
from services.sms.texts import cancel_texts
from services.store import case_records as records
from services.store.tables import (
    attempts,
    cases,
    events,
    match_reviews,
    sms_replies,
    sms_texts,
    timers,
)


def merge_open_cases(
    conn: Connection, program: Program, person_id: str, now: datetime, actor: str
) -> str | None:
    """Merge every open case of the person into the oldest; its id, or None if there was
    at most one. Call with the program locked."""
    rows = conn.execute(
        select(cases)
        .where(
            and_(
                cases.c.program_id == program.id,
                cases.c.person_id == person_id,
                cases.c.status == CaseStatus.OPEN.value,
            )
        )
        .order_by(cases.c.opened_at, cases.c.id)
        .with_for_update()
    ).all()
    if len(rows) < 2:
        return None
    survivor = rows[0]
    for other in rows[1:]:
        survivor = _merge(conn, program, survivor, other, now, actor)
    return str(survivor.id)


def _merge(
    conn: Connection, program: Program, survivor: Any, other: Any, now: datetime, actor: str
) -> Any:
    keep, gone = survivor.id, other.id
    conn.execute(update(events).where(events.c.case_id == gone).values(case_id=keep))
    conn.execute(update(match_reviews).where(match_reviews.c.case_id == gone).values(case_id=keep))
    conn.execute(update(sms_replies).where(sms_replies.c.case_id == gone).values(case_id=keep))
    _move_attempts(conn, keep, gone)
    _keep_texts_once(conn, keep, gone, now)
    changes = _survivor_changes(survivor, other)
    conn.execute(
        update(cases)
        .where(cases.c.id == keep)
        .values(**changes, updated_at=now, version=cases.c.version + 1)
    )
    if "window_due_at" in changes:
        records.reschedule_timers(
            conn, keep, changes["window_opens_at"], changes["window_due_at"],
            program.at_risk_before_due,
        )  # fmt: skip
    conn.execute(
        update(cases)
        .where(cases.c.id == gone)
        .values(
            status=CaseStatus.CLOSED.value, closed_at=now, outcome=MERGED_INTO, merged_into=keep,
            planned_team_id=None, planned_shift_start=None, planned_visit_from=None,
            planned_visit_until=None, at_risk_reason=None, owner_user_id=None,
            updated_at=now, version=cases.c.version + 1,
        )
    )  # fmt: skip
    conn.execute(
        update(timers)
        .where(and_(timers.c.case_id == gone, timers.c.fired_at.is_(None)))
        .values(fired_at=now)
    )
    records.announce(conn, gone, CaseEventKind.CLOSED, now, {"merged_into": keep})
    records.announce(conn, keep, CaseEventKind.MERGED, now, {"merged": gone})
    records.audit(conn, now, actor, "cases_merged", "case", keep, {"merged": gone})
    return conn.execute(select(cases).where(cases.c.id == keep)).one()


def _survivor_changes(survivor: Any, other: Any) -> dict[str, Any]:
    def earliest(name: str) -> Any:
        values = [v for v in (getattr(survivor, name), getattr(other, name)) if v is not None]
        return min(values) if values else None

    changes: dict[str, Any] = {
        name: earliest(name)
        for name in (
            "first_attempt_at", "first_contact_at", "callback_requested_at", "phone_invalid_at",
            "possible_death_at",
        )
    }  # fmt: skip
    if survivor.possible_death_at is None and other.possible_death_at is not None:
        changes["possible_death_event_id"] = other.possible_death_event_id
    if survivor.owner_user_id is None and other.owner_user_id is not None:
        changes.update(
            owner_user_id=other.owner_user_id, owned_at=other.owned_at,
            assigned_team_id=other.assigned_team_id,
            assigned_shift_start=other.assigned_shift_start,
        )  # fmt: skip
    if other.occurred_at > survivor.occurred_at and other.window_due_at > survivor.window_due_at:
        changes.update(
            window_opens_at=other.window_opens_at, window_due_at=other.window_due_at,
            missed_at=other.missed_at,
        )  # fmt: skip
    return changes


def _move_attempts(conn: Connection, keep: str, gone: str) -> None:
    last = conn.execute(
        select(func.coalesce(func.max(attempts.c.attempt_no), 0)).where(attempts.c.case_id == keep)
    ).scalar_one()
    moved = conn.execute(
        select(attempts.c.id)
        .where(attempts.c.case_id == gone)
        .order_by(attempts.c.at, attempts.c.attempt_no)
    ).scalars()
    for n, attempt_id in enumerate(list(moved), start=int(last) + 1):
        conn.execute(
            update(attempts).where(attempts.c.id == attempt_id).values(case_id=keep, attempt_no=n)
        )


def _keep_texts_once(conn: Connection, keep: str, gone: str, now: datetime) -> None:
    rows = conn.execute(
        select(sms_texts.c.id, sms_texts.c.case_id, sms_texts.c.idempotency_key, sms_texts.c.state)
        .where(sms_texts.c.case_id.in_([keep, gone]))
        .order_by(sms_texts.c.id)
    ).all()
    by_slot: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_slot[text_slot(row.idempotency_key)].append(row)
    doomed: list[int] = []
    for texts in by_slot.values():
        queued = [t for t in texts if t.state == TextState.QUEUED.value]
        settled = [t for t in texts if t.state not in (TextState.QUEUED, TextState.CANCELLED)]
        if settled:
            doomed += [t.id for t in queued]
        elif any(t.case_id == keep for t in queued):
            doomed += [t.id for t in queued if t.case_id == gone]
    if doomed:
        cancel_texts(conn, sms_texts.c.id.in_(doomed), f"kept once: merged into case {keep}", now)
    conn.execute(update(sms_texts).where(sms_texts.c.case_id == gone).values(case_id=keep))

"""Store functions of the case engine (inside a caller's transaction): case
snapshots as case events, timers, plan requests, attempts, history, audit."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite

from schemas.cases import (
    MERGED_INTO,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    EventRef,
    PlannedVisit,
    Tier,
    VisitResult,
)
from services.cases.tiering import PastCase
from services.store.tables import (
    attempts,
    audit_log,
    case_events,
    cases,
    events,
    program_state,
    timers,
)

TIMER_KINDS = ("window_opened", "window_at_risk", "window_missed")


def load_case(conn: Connection, case_id: str, *, lock: bool = False) -> Row[Any] | None:
    """The case; with `lock`, its program's state row and then the case row are taken
    (`lock_programs`: the store's one lock order)."""
    query = select(cases).where(cases.c.id == case_id)
    if lock and conn.dialect.name == "postgresql":
        program_id = conn.execute(
            select(cases.c.program_id).where(cases.c.id == case_id)
        ).scalar_one_or_none()
        if program_id is None:
            return None
        lock_programs(conn, [program_id])
        query = query.with_for_update()
    return conn.execute(query).first()


def event_refs(conn: Connection, case_ids: Sequence[str]) -> dict[str, list[EventRef]]:
    refs: dict[str, list[EventRef]] = defaultdict(list)
    for start in range(0, len(case_ids), 500):
        rows = conn.execute(
            select(
                events.c.case_id,
                events.c.source,
                events.c.agency_id,
                events.c.event_id,
                events.c.incident_number,
                events.c.occurred_at,
            )
            .where(events.c.case_id.in_(case_ids[start : start + 500]))
            .order_by(events.c.occurred_at, events.c.id)
        )
        for r in rows:
            refs[r.case_id].append(
                EventRef(
                    source=r.source,
                    agency_id=r.agency_id,
                    event_id=r.event_id,
                    incident_number=r.incident_number,
                    occurred_at=r.occurred_at,
                )
            )
    return refs


def planned_of(row: Any, now: datetime | None = None) -> PlannedVisit | None:
    """The planned visit as stored (the slot); with `now`, as shown at that moment:
    a slot that has begun is shown from `now` (never before it) until its end."""
    if row.planned_team_id is None:
        return None
    visit_from = row.planned_visit_from
    if now is not None and visit_from < now < row.planned_visit_until:
        visit_from = now
    return PlannedVisit(
        team_id=row.planned_team_id,
        shift_start=row.planned_shift_start,
        visit_from=visit_from,
        visit_until=row.planned_visit_until,
    )


def case_event(
    row: Any,
    kind: CaseEventKind,
    at: datetime,
    refs: list[EventRef],
    detail: Mapping[str, str | int | float | None] | None = None,
) -> CaseEvent:
    return CaseEvent(
        seq=0,
        kind=kind,
        case_id=row.id,
        program_id=row.program_id,
        at=at,
        status=CaseStatus(row.status),
        tier=Tier(row.tier),
        window_opens_at=row.window_opens_at,
        window_due_at=row.window_due_at,
        person_id=row.person_id,
        planned=planned_of(row),
        at_risk_reason=row.at_risk_reason,
        missed=row.missed_at is not None,
        possible_death=row.possible_death_at is not None,
        events=refs,
        detail=dict(detail or {}),
    )


def announce(
    conn: Connection,
    case_id: str,
    kind: CaseEventKind,
    at: datetime,
    detail: Mapping[str, str | int | float | None] | None = None,
) -> None:
    """Write a case event (the case as it is now) to the outbox."""
    announce_many(conn, [(case_id, kind, detail)], at)


Announcement = tuple[str, CaseEventKind, Mapping[str, str | int | float | None] | None]


def announce_many(conn: Connection, items: Sequence[Announcement], at: datetime) -> None:
    """`announce` for many cases at once: one read of the cases and their events."""
    ids = sorted({case_id for case_id, _, _ in items})
    rows: dict[str, Any] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows.update((r.id, r) for r in conn.execute(select(cases).where(cases.c.id.in_(chunk))))
    refs = event_refs(conn, ids)
    missing = set(ids) - rows.keys()
    assert not missing, missing
    append_case_events(
        conn,
        [
            case_event(rows[case_id], kind, at, refs.get(case_id, []), detail)
            for case_id, kind, detail in items
        ],
    )


def append_case_events(conn: Connection, items: Sequence[CaseEvent]) -> None:
    if not items:
        return
    conn.execute(
        case_events.insert(),
        [
            {
                "program_id": item.program_id,
                "case_id": item.case_id,
                "kind": item.kind.value,
                "payload": item.model_dump_json(exclude={"seq"}),
                "created_at": item.at,
            }
            for item in items
        ],
    )


def timer_rows(
    case_id: str, program_id: str, opens_at: datetime, due_at: datetime, at_risk_before: timedelta
) -> list[dict[str, object]]:
    due = {
        "window_opened": opens_at,
        "window_at_risk": max(opens_at, due_at - at_risk_before),
        "window_missed": due_at,
    }
    return [
        {"case_id": case_id, "program_id": program_id, "kind": kind, "due_at": due[kind]}
        for kind in TIMER_KINDS
    ]


def reschedule_timers(
    conn: Connection, case_id: str, opens_at: datetime, due_at: datetime, at_risk_before: timedelta
) -> None:
    """A moved window moves the timers that have not fired yet."""
    for row in timer_rows(case_id, "", opens_at, due_at, at_risk_before):
        conn.execute(
            update(timers)
            .where(
                and_(
                    timers.c.case_id == case_id,
                    timers.c.kind == row["kind"],
                    timers.c.fired_at.is_(None),
                )
            )
            .values(due_at=row["due_at"])
        )


def reschedule_many_timers(
    conn: Connection,
    windows: Sequence[tuple[str, datetime, datetime]],
    at_risk_before: timedelta,
) -> None:
    """`reschedule_timers` for many (case id, opens at, due at): one statement."""
    if not windows:
        return
    conn.execute(
        update(timers)
        .where(
            and_(
                timers.c.case_id == bindparam("b_case"),
                timers.c.kind == bindparam("b_kind"),
                timers.c.fired_at.is_(None),
            )
        )
        .values(due_at=bindparam("b_due")),
        [
            {"b_case": case_id, "b_kind": row["kind"], "b_due": row["due_at"]}
            for case_id, opens_at, due_at in windows
            for row in timer_rows(case_id, "", opens_at, due_at, at_risk_before)
        ],
    )


def _upsert(conn: Connection, table: Any, values: dict[str, object], key: str) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[key], set_={k: v for k, v in values.items() if k != key}
        )
    )


def lock_programs(conn: Connection, program_ids: Iterable[str]) -> None:
    """Take the programs' `program_state` rows (made if missing) for this transaction.

    The one lock order of the store: a transaction that changes cases first locks
    their programs' state rows (sorted by id), then cases, then texts. The planner
    holds its program's row while it plans, so every writer of a program's cases
    waits for it, and none can hold a case the planner waits for (PostgreSQL; SQLite
    has one writer at a time anyway)."""
    if conn.dialect.name != "postgresql":
        return
    for program_id in sorted(set(program_ids)):
        conn.execute(
            postgresql.insert(program_state)
            .values(program_id=program_id)
            .on_conflict_do_nothing(index_elements=["program_id"])
        )
        conn.execute(
            select(program_state.c.program_id)
            .where(program_state.c.program_id == program_id)
            .with_for_update()
        )


def request_plan(conn: Connection, program_ids: Iterable[str], now: datetime) -> None:
    for program_id in sorted(set(program_ids)):
        _upsert(
            conn, program_state, {"program_id": program_id, "plan_requested_at": now}, "program_id"
        )


def audit(
    conn: Connection,
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    detail: Mapping[str, object] | None = None,
) -> None:
    """Append-only: who did what to which record, when. Never personal data."""
    conn.execute(
        audit_log.insert().values(
            at=at,
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            detail=json.dumps(detail or {}, sort_keys=True, default=str),
        )
    )


def history_of(
    conn: Connection, person_ids: Iterable[str], exclude_case: str | None = None
) -> dict[str, list[PastCase]]:
    """Closed cases of these persons, with their outcome and whether anyone tried (asked
    of each case's own attempts: no count over every attempt in the store)."""
    ids = sorted(set(person_ids))
    found: dict[str, list[PastCase]] = defaultdict(list)
    tried = exists().where(attempts.c.case_id == cases.c.id)
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(
                cases.c.id, cases.c.person_id, cases.c.closed_at, cases.c.outcome,
                tried.label("tried"),
            ).where(
                and_(
                    cases.c.person_id.in_(ids[start : start + 500]),
                    cases.c.status == CaseStatus.CLOSED.value,
                )
            )
        )  # fmt: skip
        for r in rows:
            if r.id == exclude_case or r.outcome == MERGED_INTO:
                continue  # a merged case's follow-up is the case it was merged into
            found[r.person_id].append(
                PastCase(
                    closed_at=r.closed_at,
                    outcome=VisitResult(r.outcome) if r.outcome else None,
                    attempted=bool(r.tried),
                )
            )
    return found

"""The retention job's other writes (inside the caller's transaction): which subjects were
purged and when, the reports of no person and no case, the originals of old rejected
records, the nightly runs claimed per program and day, and the audit log's one delete
path (migration 0015).

Removing audit rows: the job writes a `retention_grants` row naming its cutoff (and on
PostgreSQL sets `qrt.retention` for this transaction only), deletes at most `limit`
rows older than the cutoff, and deletes the grant again before its transaction ends.
The triggers refuse any other DELETE, a DELETE of a row at or after the cutoff even in
that transaction, and every UPDATE."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Connection, and_, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from services.retention.settings import AUDIT_YEARS_AT_LEAST, years_before
from services.store.retention_purge import EVENT_PERSONAL
from services.store.tables import (
    audit_log,
    events,
    rejections,
    retention_grants,
    retention_purges,
    retention_runs,
)


def _insert(conn: Connection, table: object) -> object:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def mark_purged(
    conn: Connection, kind: str, ids: Sequence[str], program_id: str, now: datetime
) -> None:
    if not ids:
        return
    insert = _insert(conn, retention_purges)
    rows = [
        {"subject_type": kind, "subject_id": i, "program_id": program_id, "purged_at": now}
        for i in ids
    ]
    conn.execute(
        insert.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=["subject_type", "subject_id"], set_={"purged_at": now}
        ),
        rows,
    )


def orphan_reports(
    conn: Connection, program_id: str, cutoff: datetime, *, apply: bool, limit: int
) -> int:
    """Reports of neither a person nor a case (a fatal report without a name, one too old
    to follow up), recorded before the cutoff: their sealed parts and tokens."""
    where = and_(
        events.c.program_id == program_id,
        events.c.person_id.is_(None),
        events.c.case_id.is_(None),
        events.c.recorded_at < cutoff,
        or_(*(events.c[name].is_not(None) for name in EVENT_PERSONAL)),
    )
    if not apply:
        return int(conn.execute(select(func.count()).where(where)).scalar_one())
    ids = select(events.c.id).where(where).order_by(events.c.id).limit(limit).scalar_subquery()
    changed = conn.execute(
        update(events).where(events.c.id.in_(ids)).values(dict.fromkeys(EVENT_PERSONAL))
    )
    return int(changed.rowcount)


def old_originals(
    conn: Connection, program_id: str | None, cutoff: datetime, *, apply: bool, limit: int
) -> int:
    """Rejected feed records of the program (None: of no program) older than the cutoff:
    their original bytes (the row, its reason and counts stay)."""
    whose = (
        rejections.c.program_id.is_(None)
        if program_id is None
        else rejections.c.program_id == program_id
    )
    where = and_(whose, rejections.c.rejected_at < cutoff, rejections.c.original_sealed != "")
    if not apply:
        return int(conn.execute(select(func.count()).where(where)).scalar_one())
    ids = select(rejections.c.id).where(where).order_by(rejections.c.id).limit(limit)
    changed = conn.execute(
        update(rejections)
        .where(rejections.c.id.in_(ids.scalar_subquery()))
        .values(original_sealed="")
    )
    return int(changed.rowcount)


class AuditCutoffRefused(ValueError):
    def __init__(self, cutoff: datetime, now: datetime) -> None:
        super().__init__(
            f"audit rows are kept at least {AUDIT_YEARS_AT_LEAST} years: a cutoff of "
            f"{cutoff.isoformat()} is too recent for {now.isoformat()}"
        )


def trim_audit(
    conn: Connection, cutoff: datetime, now: datetime, *, apply: bool, limit: int
) -> int:
    """At most `limit` audit rows older than the cutoff removed (or counted), through the
    grant of this transaction (module doc)."""
    if cutoff > years_before(now, AUDIT_YEARS_AT_LEAST):
        raise AuditCutoffRefused(cutoff, now)
    old = audit_log.c.at < cutoff
    if not apply:
        return int(conn.execute(select(func.count()).where(old)).scalar_one())
    conn.execute(delete(retention_grants))
    conn.execute(retention_grants.insert().values(id=1, cutoff=cutoff, granted_at=now))
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT set_config('qrt.retention', 'on', true)"))
    ids = select(audit_log.c.id).where(old).order_by(audit_log.c.id).limit(limit)
    removed = conn.execute(delete(audit_log).where(audit_log.c.id.in_(ids.scalar_subquery())))
    conn.execute(delete(retention_grants))
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT set_config('qrt.retention', 'off', true)"))
    return int(removed.rowcount)


def claim_run(conn: Connection, program_id: str, day: date, now: datetime) -> bool:
    """True when this process may run the program's retention for that day: no one
    claimed it before (several timer workers, a restart the same day)."""
    claimed = conn.execute(
        _insert(conn, retention_runs)  # type: ignore[attr-defined]
        .values(program_id=program_id, run_day=day.isoformat(), started_at=now)
        .on_conflict_do_nothing()
        .returning(retention_runs.c.program_id)
    ).first()
    return claimed is not None


def finish_run(conn: Connection, program_id: str, day: date, now: datetime) -> None:
    conn.execute(
        update(retention_runs)
        .where(
            retention_runs.c.program_id == program_id, retention_runs.c.run_day == day.isoformat()
        )
        .values(finished_at=now)
    )


def release_run(conn: Connection, program_id: str, day: date) -> None:
    """A run that failed: its day may be claimed again (at the next tick)."""
    conn.execute(
        delete(retention_runs).where(
            retention_runs.c.program_id == program_id,
            retention_runs.c.run_day == day.isoformat(),
            retention_runs.c.finished_at.is_(None),
        )
    )

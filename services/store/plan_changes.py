"""The planner's change log (`plan_changes`, kept by triggers on `cases`: migration 0017),
inside the planner's transaction: what changed since the stored plan, and forgetting it
once planned."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Integer, any_, bindparam, delete, select, text
from sqlalchemy.dialects import postgresql

from services.core.priority import PriorityKey, priority_key
from services.store.tables import plan_changes

TRIGGERS = ("plan_changes_insert", "plan_changes_update", "plan_changes_delete")
_CHUNK = 900  # bound parameters a statement (SQLite allows 32,766; stay well below)


@dataclass(frozen=True)
class PlanChange:
    """One logged change of a case: its state before (placed by the stored plan, and its
    priority key then; no key for an insert)."""

    id: int
    case_id: str
    was_placed: bool
    old_key: PriorityKey | None


def read_changes(conn: Connection, program_id: str) -> list[PlanChange]:
    c = plan_changes.c
    rows = conn.execute(
        select(
            c.id, c.case_id, c.was_placed, c.old_tier_rank, c.old_due_at, c.old_occurred_at
        ).where(c.program_id == program_id)
    ).all()
    return [
        PlanChange(
            r.id,
            r.case_id,
            bool(r.was_placed),
            None
            if r.old_tier_rank is None or r.old_due_at is None or r.old_occurred_at is None
            else priority_key(r.old_tier_rank, r.old_due_at, r.old_occurred_at, r.case_id),
        )
        for r in rows
    ]


def forget_changes(conn: Connection, change_ids: Sequence[int]) -> None:
    """Delete exactly the rows read: a change logged meanwhile stays for the next plan."""
    ordered = sorted(change_ids)
    if conn.dialect.name == "postgresql" and ordered:
        ids = bindparam("ids", value=ordered, type_=postgresql.ARRAY(Integer))
        conn.execute(delete(plan_changes).where(plan_changes.c.id == any_(ids)))
        return
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        conn.execute(delete(plan_changes).where(plan_changes.c.id.in_(chunk)))


def change_log_kept(conn: Connection) -> bool:
    """Are the triggers that keep the log in place (and enabled, on PostgreSQL)?"""
    if conn.dialect.name == "postgresql":
        query = text(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'cases'::regclass "
            "AND tgname IN :names AND tgenabled <> 'D'"
        )
    else:
        query = text(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name = 'cases' AND name IN :names"
        )
    query = query.bindparams(bindparam("names", value=list(TRIGGERS), expanding=True))
    return int(conn.execute(query).scalar_one()) == len(TRIGGERS)

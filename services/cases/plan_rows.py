"""The case rows the planner reads (inside its transaction): every open case of a program,
or the part a change can move (services/planning/incremental.py) -- the changed cases, the
placed ones, those whose window closed since the stored plan, and open cases in priority
order from a key on, page by page."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    String,
    and_,
    any_,
    bindparam,
    func,
    literal,
    select,
    tuple_,
)
from sqlalchemy.dialects import postgresql

from schemas.cases import CaseStatus
from services.core.priority import PriorityKey, priority_key
from services.planning.planner import PlanCase
from services.store.tables import cases

PLAN_COLUMNS = (
    "planned_team_id",
    "planned_shift_start",
    "planned_visit_from",
    "planned_visit_until",
    "at_risk_reason",
)
_c = cases.c
_READ = (
    _c.id, _c.tier_rank, _c.window_opens_at, _c.window_due_at, _c.occurred_at,
    *(_c[name] for name in PLAN_COLUMNS),
)  # fmt: skip
PAGE = 1000  # open cases a page, in priority order
_CHUNK = 900  # bound parameters a statement (SQLite)


def plan_case(row: Row[Any]) -> PlanCase:
    return PlanCase(row.id, row.tier_rank, row.window_opens_at, row.window_due_at, row.occurred_at)


def key_of(row: Row[Any]) -> PriorityKey:
    return priority_key(row.tier_rank, row.window_due_at, row.occurred_at, row.id)


def _open(program_id: str) -> ColumnElement[bool]:
    return and_(
        _c.program_id == program_id,
        _c.status == CaseStatus.OPEN.value,
        _c.missed_at.is_(None),
    )


def open_rows(conn: Connection, program_id: str) -> list[Row[Any]]:
    """Every open case of the program (the full plan's input)."""
    return list(conn.execute(select(*_READ).where(_open(program_id))).all())


def part_rows(
    conn: Connection, program_id: str, changed: Collection[str], since: datetime, now: datetime
) -> dict[str, Row[Any]]:
    """The open cases a change can move, by id: the changed ones (by primary key), the
    placed ones (`ix_cases_planned`), and those whose window closed in (since, now]."""
    queries = [
        select(*_READ).where(_open(program_id), _c.planned_team_id.is_not(None)),
        select(*_READ).where(_open(program_id), _c.window_due_at > since, _c.window_due_at <= now),
    ]
    ids = sorted(changed)
    if conn.dialect.name == "postgresql":  # one array, not a parameter per id
        array = bindparam("ids", value=ids, type_=postgresql.ARRAY(String))
        queries.append(select(*_READ).where(_open(program_id), _c.id == any_(array)))
    else:
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            queries.append(select(*_READ).where(_open(program_id), _c.id.in_(chunk)))
    return {row.id: row for query in queries for row in conn.execute(query)}


def last_due(conn: Connection, program_id: str) -> datetime | None:
    """The latest due time of the program's open cases (how far its shifts matter)."""
    found: datetime | None = conn.execute(
        select(func.max(_c.window_due_at)).where(_open(program_id))
    ).scalar_one()
    return found


def pages_from(conn: Connection, program_id: str, start: PriorityKey) -> Iterator[list[Row[Any]]]:
    """The program's open cases from `start` on, in priority order, PAGE at a time; the next
    page is read only when asked for."""
    # case ids compare by code point, as in Python: the "C" collation on PostgreSQL
    case_id = _c.id.collate("C") if conn.dialect.name == "postgresql" else _c.id
    key = tuple_(_c.tier_rank, _c.window_due_at, _c.occurred_at, case_id)
    after = key >= _bound(start)
    while True:
        page = list(
            conn.execute(
                select(*_READ)
                .where(_open(program_id), after)
                .order_by(_c.tier_rank, _c.window_due_at, _c.occurred_at, case_id)
                .limit(PAGE)
            ).all()
        )
        if page:
            yield page
        if len(page) < PAGE:
            return
        after = key > _bound(key_of(page[-1]))


def _bound(key: PriorityKey) -> ColumnElement[Any]:
    columns = (_c.tier_rank, _c.window_due_at, _c.occurred_at, _c.id)
    return tuple_(
        *(literal(value, column.type) for value, column in zip(key, columns, strict=True))
    )

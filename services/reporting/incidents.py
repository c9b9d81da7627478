"""Which stored reports are overdoses of the period, and which of them are second reports
of one incident.

An overdose report is an `events` row of an EMS or police source (a referral is no
overdose) of the program whose `occurred_at` falls in the period; a report too old to
open a case, or a fatal one (which opens none), counts as much as any.

Two reports are one incident when the case engine put them in one case and they come
from different sources, the later no more than the program's `incident_merge_minutes`
after the earlier (the engine's same-incident rule): the later is the second report,
left out of the incident counts. A repeat overdose of the same person joins their open
case too, but from its own time or source: it stays an incident of its own.

Only ids, times, sources and the case a report belongs to are read: what stays of a
report after its personal data is purged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, or_, select, union
from sqlalchemy.sql.elements import ColumnElement

from services.reporting.period import Period
from services.reporting.sql_parts import in_range, seconds_between
from services.store.tables import cases, events

OVERDOSE_SOURCES = ("ems", "police")
CASE_LINKED = "case_linked"  # services/cases/batch_writes.py Handling: joined an open case


def overdose_reports(program_id: str, period: Period) -> list[ColumnElement[bool]]:
    """The conditions of the program's overdose reports in the period."""
    return [
        events.c.program_id == program_id,
        events.c.source.in_(OVERDOSE_SOURCES),
        in_range(events.c.occurred_at, period.start_utc, period.end_utc),
    ]


@dataclass(frozen=True)
class SecondReport:
    """A report of an incident another source reported first."""

    id: int
    occurred_at: datetime
    fatal: bool
    person_id: str | None


def second_reports(
    conn: Connection, program_id: str, period: Period, merge_minutes: int
) -> list[SecondReport]:
    """The second reports among the period's overdose reports (module doc). Only cases
    that may hold two reports of one incident are read: those a report of the period (or
    of the merge minutes before it) joined, and those another case was merged into;
    with all their reports (the first report of an incident may fall just before it)."""
    margin = timedelta(minutes=merge_minutes)
    joined = select(events.c.case_id).where(
        events.c.program_id == program_id,
        events.c.source.in_(OVERDOSE_SOURCES),
        events.c.handling == CASE_LINKED,
        in_range(events.c.occurred_at, period.start_utc - margin, period.end_utc),
    )
    merged = select(cases.c.merged_into).where(
        cases.c.program_id == program_id, cases.c.merged_into.is_not(None)
    )
    candidates = union(joined, merged).subquery()
    later, first = events.alias("later"), events.alias("first")
    gap = seconds_between(conn.dialect.name, later.c.occurred_at, first.c.occurred_at)
    pairs = later.join(
        first,
        and_(
            first.c.case_id == later.c.case_id,
            first.c.source.in_(OVERDOSE_SOURCES),
            first.c.source != later.c.source,
            or_(
                first.c.occurred_at < later.c.occurred_at,
                and_(first.c.occurred_at == later.c.occurred_at, first.c.id < later.c.id),
            ),
            gap <= merge_minutes * 60,
        ),
    )
    rows = conn.execute(
        select(later.c.id, later.c.occurred_at, later.c.fatal, later.c.person_id)
        .distinct()
        .select_from(pairs)
        .where(
            later.c.case_id.in_(select(candidates.c[0])),
            later.c.source.in_(OVERDOSE_SOURCES),
            in_range(later.c.occurred_at, period.start_utc, period.end_utc),
        )
    ).all()
    return [SecondReport(r.id, r.occurred_at, r.fatal, r.person_id) for r in rows]

"""Overdoses reported in the period: incidents (fatal, non-fatal), the reports of each
source and agency, the persons, new to the program or known, and per month or week.

Persons are those the period's reports name; a person is known when the program has an
overdose report, a referral or a case of theirs from before their first report of the
period; new otherwise. Two grouped passes over the reports: by bucket, fatality, source and agency;
and by person (their first report in the period, their earliest, how many)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, select

from schemas.report import OverdoseFigures, named
from services.reporting.incidents import (
    OVERDOSE_SOURCES,
    SecondReport,
    overdose_reports,
    second_reports,
)
from services.reporting.period import bucket_index
from services.reporting.scope import Scope
from services.reporting.sql_parts import bucket_of, in_range, not_among
from services.store.tables import events


@dataclass(frozen=True)
class Overdoses:
    """The raw counts, for the figures, the funnel, the repeats and the series."""

    non_fatal: int
    fatal: int
    second: list[SecondReport]
    per_bucket: dict[int, tuple[int, int]]  # bucket -> (non-fatal, fatal) incidents
    by_source: list[tuple[str, int]]
    by_agency: list[tuple[str, int]]
    agency_sources: dict[str, frozenset[str]] = field(default_factory=dict)  # who sent what
    persons: int = 0
    known: int = 0
    repeat_persons: int = 0  # persons with two or more incidents in the period

    @property
    def total(self) -> int:
        return self.non_fatal + self.fatal


def overdoses(scope: Scope) -> Overdoses:
    program = scope.program
    second = second_reports(
        scope.conn, program.id, scope.period, program.matching.incident_merge_minutes
    )
    bucket = bucket_of(events.c.occurred_at, scope.bucket_ends).label("bucket")
    columns = (bucket, events.c.fatal, events.c.source, events.c.agency_id)
    counted: Counter[tuple[int, bool]] = Counter()
    sources: Counter[str] = Counter()
    agencies: Counter[str] = Counter()
    sent: dict[str, set[str]] = {}
    query = select(*columns, func.count()).where(*overdose_reports(program.id, scope.period))
    for b, fatal, source, agency, n in scope.conn.execute(query.group_by(*columns)):
        counted[(int(b), bool(fatal))] += int(n)
        sources[str(source)] += int(n)
        agencies[str(agency)] += int(n)
        sent.setdefault(str(agency), set()).add(str(source))
    for s in second:
        counted[(bucket_index(scope.bucket_ends, s.occurred_at), s.fatal)] -= 1
    per_bucket = {i: (counted[(i, False)], counted[(i, True)]) for i in range(len(scope.buckets))}
    persons, known, repeated = _persons(scope, [s.id for s in second])
    return Overdoses(
        non_fatal=sum(v[0] for v in per_bucket.values()),
        fatal=sum(v[1] for v in per_bucket.values()),
        second=second, per_bucket=per_bucket,
        by_source=_most_first(sources), by_agency=_most_first(agencies),
        agency_sources={a: frozenset(s) for a, s in sent.items()},
        persons=persons, known=known, repeat_persons=repeated,
    )  # fmt: skip


def overdose_figures(found: Overdoses) -> OverdoseFigures:
    return OverdoseFigures(
        total=found.total, non_fatal=found.non_fatal, fatal=found.fatal,
        by_source=named(found.by_source), by_agency=named(found.by_agency),
        distinct_persons=found.persons, persons_new=found.persons - found.known,
        persons_known=found.known,
    )  # fmt: skip


def _persons(scope: Scope, second: list[int]) -> tuple[int, int, int]:
    """How many persons the period's reports name, are known, have two or more incidents
    (reports less the `second` reports of an incident).
    Every case of a person holds a report of theirs (overdose or referral) of its time,
    so the earliest report of any source tells whether an earlier case exists."""
    program_id, period = scope.program.id, scope.period
    counted = and_(
        in_range(events.c.occurred_at, period.start_utc, period.end_utc),
        events.c.source.in_(OVERDOSE_SOURCES),
    )
    incident = not_among(scope.dialect, events.c.id, second)
    mine = (
        select(
            func.min(case((counted, events.c.occurred_at))).label("first"),
            func.min(events.c.occurred_at).label("earliest"),
            func.sum(case((and_(counted, incident), 1), else_=0)).label("incidents"),
        )
        .where(
            events.c.program_id == program_id,
            events.c.person_id.is_not(None),
            events.c.occurred_at < period.end_utc,
        )
        .group_by(events.c.person_id)
        .subquery()
    )
    row = scope.conn.execute(
        select(
            func.count(),
            func.sum(case((mine.c.earliest < mine.c.first, 1), else_=0)),
            func.sum(case((mine.c.incidents >= 2, 1), else_=0)),
        ).where(mine.c.first.is_not(None))
    ).one()
    return int(row[0]), int(row[1] or 0), int(row[2] or 0)


def _most_first(counted: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counted.items(), key=lambda r: (-r[1], r[0]))

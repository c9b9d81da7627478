"""What every part of a report reads with: one connection, the program, the period and
its buckets, and whether clinical measures are read (shareable figures are made of the
report afterwards: services/reporting/release.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_
from sqlalchemy.sql.elements import ColumnElement

from schemas.cases import CaseKind
from schemas.report import ReportBy
from services.programs import Program
from services.reporting.period import Bucket, Period
from services.reporting.sql_parts import in_range
from services.store.tables import cases


@dataclass(frozen=True)
class Scope:
    conn: Connection
    program: Program
    period: Period
    by: ReportBy
    clinical: bool
    buckets: list[Bucket] = field(default_factory=list)

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    @property
    def bucket_ends(self) -> list[datetime]:
        return [b.end_utc for b in self.buckets]

    def cohort(self, *, overdose_only: bool = False) -> ColumnElement[bool]:
        """The cases of the period: opened for an overdose (or a referral, a death) whose
        time falls in it; a case merged into another counts as the one it joined."""
        conditions: list[Any] = [
            cases.c.program_id == self.program.id,
            in_range(cases.c.occurred_at, self.period.start_utc, self.period.end_utc),
            cases.c.merged_into.is_(None),
        ]
        if overdose_only:
            conditions.append(cases.c.kind == CaseKind.OVERDOSE.value)
        return and_(*conditions)

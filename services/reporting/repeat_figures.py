"""Repeat overdoses: persons with two or more overdose incidents in the period, and the
period's incidents that came within 30 / 90 days after the team had contacted the same
person (an attempt with a `contacted_*` result on any case of theirs, before the
overdose). Second reports of one incident are left out (services/reporting/incidents.py);
persons with two or more incidents are counted with the reports (overdose_figures.py)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import case, func, select

from schemas.report import RepeatFigures
from services.reporting.incidents import overdose_reports
from services.reporting.overdose_figures import Overdoses
from services.reporting.scope import Scope
from services.reporting.sql_parts import hours_between, not_among
from services.store.tables import attempts, cases, events

AFTER_CONTACT_DAYS = (30, 90)
LOOK_BACK = timedelta(days=max(AFTER_CONTACT_DAYS))


def repeat_figures(scope: Scope, found: Overdoses) -> RepeatFigures:
    near, far = _after_contact(scope, [s.id for s in found.second])
    return RepeatFigures(
        persons_two_or_more=found.repeat_persons,
        within_30d_after_contact=near,
        within_90d_after_contact=far,
    )


def _after_contact(scope: Scope, second: list[int]) -> tuple[int, int]:
    """How many of the period's incidents came within 30 and within 90 days after a
    contact of their person (the nearest contact before the overdose)."""
    gap = func.min(hours_between(scope.dialect, events.c.occurred_at, attempts.c.at))
    contacts = events.join(cases, cases.c.person_id == events.c.person_id).join(
        attempts, attempts.c.case_id == cases.c.id
    )
    gaps = (
        select(gap.label("hours"))
        .select_from(contacts)
        .where(
            *overdose_reports(scope.program.id, scope.period),
            not_among(scope.dialect, events.c.id, second),
            cases.c.program_id == scope.program.id,
            attempts.c.result.startswith("contacted_", autoescape=True),
            attempts.c.at < events.c.occurred_at,
            attempts.c.at >= scope.period.start_utc - LOOK_BACK,
        )
        .group_by(events.c.id)
        .subquery()
    )
    near, far = (
        func.sum(case((gaps.c.hours <= days * 24, 1), else_=0)) for days in AFTER_CONTACT_DAYS
    )
    row = scope.conn.execute(select(near, far)).one()
    return int(row[0] or 0), int(row[1] or 0)

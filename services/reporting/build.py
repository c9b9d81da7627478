"""A program's report for a period, from the store: `program_report` (the API, the CLI
and the report page call it), and the audit row of a report read.

Grouped SQL aggregates over de-identified columns only (ids, times, states, kinds,
codes): no sealed column, no phone token, so a report of an earlier period gives the
same figures after its persons' personal data is purged. Two halves, the reports' and
the cases', read from one snapshot (at once on PostgreSQL: services/reporting/snapshot.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from schemas.report import (
    ClinicalFigures,
    ProgramReport,
    RejectionRow,
    RepeatFigures,
    ReportBy,
    SeriesPoint,
    SpikeFigures,
    TextFigures,
    definitions_for,
)
from services.programs import Program
from services.reporting.case_figures import (
    CaseData,
    by_team,
    case_data,
    case_figures,
    contact_time_distribution,
)
from services.reporting.clinical_figures import Treatment, clinical_figures, treatment_steps
from services.reporting.overdose_figures import Overdoses, overdose_figures, overdoses
from services.reporting.period import period_of
from services.reporting.release import Unshown, for_release
from services.reporting.repeat_figures import repeat_figures
from services.reporting.scope import Scope
from services.reporting.snapshot import read_both, report_connection
from services.reporting.spike_figures import spike_figures
from services.reporting.text_figures import rejection_rows, text_figures
from services.store.case_records import audit
from services.store.repository import Store

REPORT_READ = "report_read"


def program_report(
    store: Store,
    program: Program,
    period_from: date,
    period_to: date,
    by: ReportBy,
    *,
    clinical: bool,
    share: bool,
    now: datetime,
) -> ProgramReport:
    """The report of `program` for the days `period_from` to `period_to` (inclusive, in
    the program's time zone). `clinical=False` leaves out what only `view_clinical` may
    see; `share=True` gives shareable figures: counts from 1 to 10 as "<11", and others
    hidden as ">10" where they would reveal one (services/reporting/release.py).
    PeriodError for a period that runs backwards or is longer than three years."""
    period = period_of(period_from, period_to, program.zone)
    with report_connection(store) as conn:
        scope = Scope(conn, program, period, by, clinical, period.buckets(by))
        people, casework = read_both(
            store, conn, lambda c: _people(replace(scope, conn=c)),
            lambda c: _casework(replace(scope, conn=c)),
        )  # fmt: skip
    found, data = people.found, casework.data
    report = ProgramReport(
        program_id=program.id, period_from=period_from, period_to=period_to, by=by,
        zone=program.timezone, generated_at=now, share=False, clinical=clinical,
        definitions=definitions_for(clinical),
        overdoses=overdose_figures(found),
        cases=case_figures(scope, found, data, casework.treatment),
        clinical_figures=casework.clinical, repeats=people.repeats, texts=people.texts,
        rejections=people.rejections, series=_series(scope, found, data),
        contact_time_distribution=contact_time_distribution(data), by_team=by_team(data),
        spikes=people.spikes,
    )  # fmt: skip
    if not share:
        return report
    done = data.done
    return for_release(report, Unshown(done.within_72h, done.within_window, found.agency_sources))


@dataclass(frozen=True)
class People:
    """The half of a report read from the reports, texts and feed problems."""

    found: Overdoses
    repeats: RepeatFigures
    texts: TextFigures
    rejections: list[RejectionRow]
    spikes: SpikeFigures


def _people(scope: Scope) -> People:
    found = overdoses(scope)
    return People(found, repeat_figures(scope, found), text_figures(scope), rejection_rows(scope),
                  spike_figures(scope))  # fmt: skip


@dataclass(frozen=True)
class Casework:
    """The half read from the cases, their attempts and treatment referrals."""

    data: CaseData
    treatment: Treatment
    clinical: ClinicalFigures | None


def _casework(scope: Scope) -> Casework:
    data, treatment = case_data(scope), treatment_steps(scope)
    return Casework(data, treatment, clinical_figures(scope, data.done.outcomes, treatment))


def _series(scope: Scope, found: Overdoses, data: CaseData) -> list[SeriesPoint]:
    out = []
    for i, bucket in enumerate(scope.buckets):
        non_fatal, fatal = found.per_bucket[i]
        out.append(
            SeriesPoint(
                start=bucket.start,
                overdoses=non_fatal + fatal,
                non_fatal=non_fatal,
                fatal=fatal,
                first_contacts=data.first_contacts.get(i, 0),
            )
        )
    return out


def audit_report_read(store: Store, actor: str, report: ProgramReport, now: datetime) -> None:
    """Who read which report (its period and cut); the figures name nobody."""
    detail = {
        "from": report.period_from.isoformat(),
        "to": report.period_to.isoformat(),
        "by": report.by.value,
        "share": report.share,
        "clinical": report.clinical,
    }
    with store.transaction() as conn:
        audit(conn, now, actor, REPORT_READ, "program", report.program_id, detail)

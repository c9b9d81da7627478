"""What the report's API and page both do (report_routes.py, web/report_pages.py): who may
read a program's report and with which figures, the period asked for, the audit row.

Anyone who may see the program's queue gets its report; the clinical measures only with
`view_clinical` (never law enforcement). A missing `from` / `to` is filled in as
services/reporting/period.py says (neither: the last 12 full months of the program's
time zone). A period that runs backwards or is longer than three years is 422."""

from __future__ import annotations

from datetime import date

from fastapi import HTTPException

from schemas.report import ProgramReport, ReportBy
from services.accounts.roles import Capability
from services.api.auth import Caller, require
from services.bootstrap import Context
from services.reporting.build import audit_report_read, program_report
from services.reporting.period import PeriodError, default_period

FIRST_DAY, LAST_DAY = date(1971, 1, 1), date(9998, 12, 31)  # the days the store can hold


def report_for(
    ctx: Context,
    caller: Caller,
    program_id: str,
    period_from: date | None,
    period_to: date | None,
    by: ReportBy,
    share: bool,
) -> ProgramReport:
    """The program's report for the caller (404 / 403 as for the queue; 409 for a program
    the programs file no longer has); its read audited."""
    require(caller, program_id, Capability.VIEW_QUEUE)
    program = ctx.programs.get(program_id)
    if program is None:
        raise HTTPException(status_code=409, detail=f"program {program_id} is not configured")
    for name, day in (("from", period_from), ("to", period_to)):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise HTTPException(
                status_code=422, detail=f"`{name}` must be between {FIRST_DAY} and {LAST_DAY}"
            )
    now = ctx.clock()
    first, last = default_period(now.astimezone(program.zone).date(), period_from, period_to)
    clinical = caller.principal.can(program_id, Capability.VIEW_CLINICAL)
    try:
        report = program_report(
            ctx.store, program, first, last, by, clinical=clinical, share=share, now=now
        )
    except PeriodError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    audit_report_read(ctx.store, caller.principal.actor, report, now)
    return report

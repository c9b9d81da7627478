"""`GET /api/v1/programs/{program_id}/report`: what a program reports for a period, as
JSON (schemas/report.py) or as CSV (one row a figure: section, measure, value)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from schemas.report import ProgramReport, ReportBy
from services.api.auth import ApiCaller, context_of
from services.api.program_actions import attachment
from services.api.report_actions import report_for
from services.reporting.flat import report_csv

router = APIRouter(prefix="/api/v1", tags=["reports"])


@router.get(
    "/programs/{program_id}/report",
    response_model=ProgramReport,
    summary="What the program reports for a period: overdoses, follow-up, texts (audited)",
    description=(
        "Days in the program's time zone, `to` included; without `from` and `to`, the last "
        "12 full months. At most three years. Anyone who sees the program's queue gets it; "
        "the clinical measures only roles with `view_clinical`. `share=true` shows every "
        "count from 1 to 10 as `<11`, hides as `>10` (or hides the total) the counts that "
        "would let one be worked out from figures that add up, and leaves out the shares "
        "and quantiles that would reveal a hidden count. `format=csv`: one row a figure."
    ),
    responses={200: {"content": {"text/csv": {}}}},
)
def get_report(
    program_id: str,
    request: Request,
    caller: ApiCaller,
    period_from: Annotated[date | None, Query(alias="from", description="YYYY-MM-DD")] = None,
    period_to: Annotated[date | None, Query(alias="to", description="YYYY-MM-DD")] = None,
    by: ReportBy = ReportBy.MONTH,
    share: bool = False,
    format: Literal["json", "csv"] = "json",
) -> ProgramReport | Response:
    ctx = context_of(request)
    report = report_for(ctx, caller, program_id, period_from, period_to, by, share)
    if format == "json":
        return report
    name = f"{program_id}-report-{report.period_from}-{report.period_to}.csv"
    return Response(
        report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": attachment(name), "Cache-Control": "no-store"},
    )

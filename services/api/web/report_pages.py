"""The report page of a program: what it reports for a period (the measures of
schemas/report.py, defined on the page), every section as tables, and the charts
(services/reporting/charts.py) inline as SVG, each with its numbers as a table under it.

A GET form chooses the period (`from`, `to`, days in the program's zone; without them
the last 12 full months, as in the API), `by` (month or week) and `share` (counts from 1
to 10 shown as <11, and >10 for those that would reveal one); a value the page cannot
use is said and the default used instead. The report comes from the same action as the
API (`report_for`: access, audit, figures); law enforcement gets no clinical section."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from schemas.report import ProgramReport, ReportBy
from services.api.auth import Caller, PageCaller, context_of
from services.api.report_actions import report_for
from services.api.web.pages import page_common, page_program
from services.api.web.render import page
from services.bootstrap import Context
from services.reporting.charts import hours_text, report_charts, share_text

router = APIRouter(include_in_schema=False)
FIRST_DAY, LAST_DAY = date(1971, 1, 1), date(9998, 12, 31)
TRUE, FALSE = frozenset({"true", "1", "on", "yes"}), frozenset({"false", "0", "off", "no", ""})


@dataclass(frozen=True)
class ReportChoice:
    period_from: date
    period_to: date
    by: ReportBy
    share: bool

    def query(self, **more: str) -> str:
        return urlencode(
            {"from": self.period_from.isoformat(), "to": self.period_to.isoformat(),
             "by": self.by.value, "share": "true" if self.share else "false", **more}
        )  # fmt: skip


def _day(value: str) -> date:
    day = date.fromisoformat(value)
    if len(value) != 10 or not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(value)
    return day


def _period(
    from_text: str | None, to_text: str | None, problems: list[str]
) -> tuple[date | None, date | None]:
    """The days asked for (None: not given, report_for fills it in)."""
    try:
        first = _day(from_text) if from_text else None
        last = _day(to_text) if to_text else None
    except ValueError:
        problems.append("A day is a date such as 2026-03-01: the default period is shown.")
        return None, None
    if first is not None and last is not None and first > last:
        problems.append(
            f"The first day ({first.isoformat()}) is after the last day ({last.isoformat()}): "
            "the default period is shown."
        )
        return None, None
    return first, last


def choose(
    from_text: str | None, to_text: str | None, by: str | None, share: str | None
) -> tuple[date | None, date | None, ReportBy, bool, list[str]]:
    """What the form asked for, and what was wrong with it (the default used instead)."""
    problems: list[str] = []
    period_from, period_to = _period(from_text, to_text, problems)
    chosen_by = ReportBy.MONTH
    if by and by in {b.value for b in ReportBy}:
        chosen_by = ReportBy(by)
    elif by:
        problems.append(f"Figures are by month or by week, not {by!r}: by month is shown.")
    flag = (share or "").strip().lower()
    if flag not in TRUE | FALSE:
        problems.append(f"Share is true or false, not {share!r}: the full figures are shown.")
    return period_from, period_to, chosen_by, flag in TRUE, problems


def _report(
    ctx: Context, caller: Caller, program_id: str, asked: tuple[date | None, date | None],
    by: ReportBy, share: bool, problems: list[str],
) -> ProgramReport:  # fmt: skip
    """The report asked for; a period report_for refuses (422) is said, and the default
    period shown instead."""
    try:
        return report_for(ctx, caller, program_id, *asked, by, share)
    except HTTPException as exc:
        if exc.status_code != 422 or asked == (None, None):
            raise
        problems.append(f"That period cannot be reported ({exc.detail}): the default is shown.")
        return report_for(ctx, caller, program_id, None, None, by, share)


@router.get("/programs/{program_id}/report", response_class=HTMLResponse)
def report_view(
    program_id: str,
    request: Request,
    caller: PageCaller,
    period_from: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    period_to: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    by: Annotated[str | None, Query(max_length=10)] = None,
    share: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    ctx = context_of(request)
    program = page_program(ctx, caller, program_id)
    first, last, chosen_by, shared, problems = choose(period_from, period_to, by, share)
    report = _report(ctx, caller, program_id, (first, last), chosen_by, shared, problems)
    choice = ReportChoice(report.period_from, report.period_to, report.by, report.share)
    api = f"/api/v1/programs/{program_id}/report"
    team_names = {t.id: t.name for t in program.teams}
    return page(
        request, "report.html", status_code=422 if problems else 200,
        **page_common(ctx, caller), program_id=program_id, program_name=program.name,
        report=report, choice=choice, charts=report_charts(report, team_names),
        json_link=f"{api}?{choice.query()}", csv_link=f"{api}?{choice.query(format='csv')}",
        previous=_shifted(choice, -1), following=_shifted(choice, 1),
        hours=hours_text, share_text=share_text,
        error=" ".join(problems) or None,
        period_days=(choice.period_to - choice.period_from).days + 1,
    )  # fmt: skip


def _months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _shifted(choice: ReportChoice, direction: int) -> str:
    """The period of the same length just before (-1) or after (1): whole months stay whole
    months; "" past the days the form takes."""
    start, end = choice.period_from, choice.period_to
    try:
        if start.day == 1 and (end + timedelta(days=1)).day == 1:
            months = (end.year - start.year) * 12 + end.month - start.month + 1
            start = _months(start, direction * months)
            end = _months(start, months) - timedelta(days=1)
        else:
            span = (end - start + timedelta(days=1)) * direction
            start, end = start + span, end + span
    except (OverflowError, ValueError):
        return ""
    if start < FIRST_DAY or end > LAST_DAY:
        return ""
    return ReportChoice(start, end, choice.by, choice.share).query()

"""The shift plan page: shifts in time order, each with its visits in visiting order, cut
to one team and one day by a GET form (default: today's shifts still to come and the
next shift), each shift printed on a page of its own (static/plan.css).

Names, phones and places only for roles that may see the person; the read is audited
(services/cases/plan_reads.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.accounts.roles import Capability
from services.api.auth import PageCaller, context_of, require
from services.api.web.render import page
from services.cases.plan_reads import PlanChoice, choose_shifts, read_plan
from services.programs import Program

router = APIRouter(include_in_schema=False)
FIRST_DAY, LAST_DAY = date(1971, 1, 1), date(9998, 12, 31)  # storable, and a day after it


def _day(value: str | None) -> date | None:
    """A day as the form sends it (YYYY-MM-DD); ValueError for anything else."""
    if not value:
        return None
    day = date.fromisoformat(value)
    if not FIRST_DAY <= day <= LAST_DAY or len(value) != 10:
        raise ValueError(value)
    return day


def _query(team: str | None, day: date | None) -> str:
    kept = {k: v for k, v in (("team", team), ("day", day.isoformat() if day else None)) if v}
    return ("?" + urlencode(kept)) if kept else ""


def _filters(
    program: Program, team: str | None, day: str | None
) -> tuple[str | None, date | None, list[str]]:
    problems = []
    team_id = team or None
    if team_id is not None and team_id not in {t.id for t in program.teams}:
        problems.append(f"This program has no team {team_id!r}: all teams are shown.")
        team_id = None
    try:
        chosen = _day(day)
    except ValueError:
        problems.append("A day is a date such as 2026-12-02: today and the next shift are shown.")
        chosen = None
    return team_id, chosen, problems


def _links(program_id: str, choice: PlanChoice, today: date) -> dict[str, str]:
    base = f"/programs/{program_id}/plan"
    shown = choice.day or today
    return {
        "previous_day": base + _query(choice.team, shown - timedelta(days=1)),
        "next_day": base + _query(choice.team, shown + timedelta(days=1)),
        "whole_today": base + _query(choice.team, today),
        "default": base + _query(choice.team, None),
    }


@router.get("/programs/{program_id}/plan", response_class=HTMLResponse)
def plan_view(
    program_id: str,
    request: Request,
    caller: PageCaller,
    team: Annotated[str | None, Query(max_length=64)] = None,
    day: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    ctx = context_of(request)
    require(caller, program_id, Capability.VIEW_QUEUE)
    program = ctx.programs.get(program_id)
    if program is None:
        raise HTTPException(status_code=404, detail=f"no program {program_id!r}")
    now: datetime = ctx.clock()
    team_id, chosen, problems = _filters(program, team, day)
    choice = choose_shifts(program, team_id, chosen, now)
    sheets = read_plan(ctx.store, ctx.cipher, program, caller.principal, choice, now)
    printed = [i for i, s in enumerate(sheets) if s.visits]
    values: dict[str, Any] = {
        "who": caller.principal,
        "csrf": caller.csrf_token,
        "programs": caller.principal.programs(ctx.programs.ids),
        "now": now,
        "program_id": program_id,
        "program_name": program.name,
        "zone": program.timezone,
        "teams": program.teams,
        "team": team_id,
        "day": chosen,
        "sheets": sheets,
        "last_printed": printed[-1] if printed else -1,
        "sees_person": caller.principal.can(program_id, Capability.VIEW_PERSON),
        "links": _links(program_id, choice, now.astimezone(program.zone).date()),
        "error": " ".join(problems) or None,
    }
    return page(request, "plan.html", status_code=422 if problems else 200, **values)

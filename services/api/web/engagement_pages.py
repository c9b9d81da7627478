"""The case page's engagement form (templates/engagement.html): keep a contacted client
engaged with the next check-in (a time in the program's zone) or a check-in every N days,
change it, or end the engagement without closing the case.

Forms post with the session's CSRF token and the case's version; every change goes
through the same calls as the API (services/api/engagement_actions.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from services.api.auth import PageCaller, context_of
from services.api.case_actions import parse_if_match
from services.api.engagement_actions import engagement_call, engagement_program
from services.api.web.render import local_time
from services.cases import engagement

router = APIRouter(include_in_schema=False)


def _back(case_id: str, error: str | None = None, message: str | None = None) -> Response:
    said = {k: v for k, v in (("error", error), ("message", message)) if v}
    query = f"?{urlencode(said)}" if said else ""
    return RedirectResponse(f"/cases/{case_id}{query}", status_code=303)


def _local(text: str, zone: str) -> datetime | None:
    """The form's local time (in the program's zone) as an aware time; empty: none."""
    if not text:
        return None
    local = datetime.fromisoformat(text)
    return local if local.tzinfo is not None else local.replace(tzinfo=ZoneInfo(zone))


def _days(text: str) -> int | None:
    if not text.strip():
        return None
    if not (text.strip().isascii() and text.strip().isdigit()):
        raise ValueError(text)
    return int(text)


@router.post("/cases/{case_id}/engagement")
def keep_engaged(
    case_id: str,
    request: Request,
    caller: PageCaller,
    next_checkin: Annotated[str, Form(max_length=40)] = "",
    every_days: Annotated[str, Form(max_length=8)] = "",
    version: Annotated[str | None, Form()] = None,
) -> Response:
    ctx = context_of(request)
    program_id = engagement_program(ctx, caller, case_id)
    program = ctx.programs.get(program_id)
    zone = program.timezone if program else "UTC"
    try:
        at, days = _local(next_checkin, zone), _days(every_days)
    except ValueError:
        return _back(case_id, "the next check-in is a date and time, the cadence a number of days")
    if at is None and days is None:
        return _back(case_id, "give the next check-in, a number of days between check-ins, or both")
    try:
        done = engagement_call(
            engagement.set_engagement, ctx.store, case_id, next_checkin_at=at, every_days=days,
            program=program, actor=caller.principal.actor, now=ctx.clock(),
            expected_version=parse_if_match(version),
        )  # fmt: skip
    except HTTPException as exc:
        return _back(case_id, str(exc.detail))
    when = local_time(done.next_checkin_at, zone)
    return _back(case_id, message=f"Staying in touch: the next check-in is {when}.")


@router.post("/cases/{case_id}/engagement/end")
def end_engaged(
    case_id: str,
    request: Request,
    caller: PageCaller,
    version: Annotated[str | None, Form()] = None,
) -> Response:
    ctx = context_of(request)
    program_id = engagement_program(ctx, caller, case_id)
    try:
        engagement_call(
            engagement.end_engagement, ctx.store, case_id, program=ctx.programs.get(program_id),
            actor=caller.principal.actor, now=ctx.clock(),
            expected_version=parse_if_match(version),
        )  # fmt: skip
    except HTTPException as exc:
        return _back(case_id, str(exc.detail))
    return _back(case_id, message="No more check-ins; the case stays open until an outcome.")

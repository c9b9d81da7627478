"""The case page: where to go, the reports, the attempts and replies; claim, assign,
record an attempt (the full visit record), answer a call-back, decide a possible death.

Forms post with the session's CSRF token; every change goes through the same service
functions as the API (services/api/case_actions.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from schemas.case_views import AttemptCreate
from schemas.cases import Referral, VisitResult
from schemas.visits import PersonMet, ServiceGiven, VisitMethod
from services.accounts.roles import Capability
from services.api.auth import Caller, PageCaller, context_of, require
from services.api.case_actions import case_program, decide_death, parse_if_match, record_visit
from services.api.errors import http_error
from services.api.web.pages import page_common
from services.api.web.render import page
from services.api.web.treatment_pages import treatment_values
from services.cases import ownership, read_views, visits

router = APIRouter(include_in_schema=False)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_view(
    case_id: str,
    request: Request,
    caller: PageCaller,
    error: str | None = None,
    message: str | None = None,
) -> Response:
    ctx = context_of(request)
    detail = read_views.read_case(ctx.store, ctx.cipher, case_id, caller.principal, ctx.clock())
    if detail is None:
        raise HTTPException(status_code=404, detail=f"no case {case_id!r}")
    program = ctx.programs.get(detail.program_id)
    who = caller.principal
    can_assign = who.can(detail.program_id, Capability.ASSIGN)
    return page(
        request, "case.html", **page_common(ctx, caller), case=detail,
        zone=program.timezone if program else "UTC",
        teams=[t.id for t in program.teams] if program else [],
        needs=program.visits.needs if program else [],
        results=[r.value for r in VisitResult], referrals=[r.value for r in Referral],
        methods=[m.value for m in VisitMethod], people_met=[p.value for p in PersonMet],
        services=[s.value for s in ServiceGiven],
        members=ownership.members_who_can_own(ctx.store, detail.program_id) if can_assign else [],
        can_claim=who.can(detail.program_id, Capability.CLAIM),
        can_assign=can_assign,
        can_record=who.can(detail.program_id, Capability.RECORD),
        can_clinical=who.can(detail.program_id, Capability.VIEW_CLINICAL),
        can_decide_death=who.can(detail.program_id, Capability.REVIEW),
        error=error, message=message, **treatment_values(ctx, caller, detail),
    )  # fmt: skip


def _back(case_id: str, error: str | None = None, message: str | None = None) -> Response:
    said = {k: v for k, v in (("error", error), ("message", message)) if v}
    query = f"?{urlencode(said)}" if said else ""
    return RedirectResponse(f"/cases/{case_id}{query}", status_code=303)


@router.post("/cases/{case_id}/claim")
def claim(
    case_id: str,
    request: Request,
    caller: PageCaller,
    version: Annotated[str | None, Form()] = None,
) -> Response:
    return _set_owner(request, caller, case_id, version, claim=True)


@router.post("/cases/{case_id}/release")
def release(
    case_id: str,
    request: Request,
    caller: PageCaller,
    version: Annotated[str | None, Form()] = None,
) -> Response:
    return _set_owner(request, caller, case_id, version, claim=False)


def _set_owner(
    request: Request, caller: Caller, case_id: str, version: str | None, *, claim: bool
) -> Response:
    ctx = context_of(request)
    who = caller.principal
    case_program(ctx, caller, case_id, Capability.CLAIM)
    try:
        ownership.change_owner(
            ctx.store, case_id,
            owner_id=who.user_id if claim else None, owner_name=who.username if claim else None,
            team_id=None, shift_start=None, take_over=False,
            expected_version=parse_if_match(version), acting_user_id=who.user_id,
            actor=who.actor, now=ctx.clock(),
        )  # fmt: skip
    except visits.VisitRecordError as exc:
        return _back(case_id, str(http_error(exc).detail))
    return _back(case_id, message="Claimed." if claim else "Released.")


@router.post("/cases/{case_id}/assign")
def assign(
    case_id: str,
    request: Request,
    caller: PageCaller,
    username: Annotated[str, Form(max_length=64)],
    team_id: Annotated[str, Form(max_length=64)] = "",
    version: Annotated[str | None, Form()] = None,
) -> Response:
    """A coordinator gives the case to a member (and, if chosen, a team)."""
    ctx = context_of(request)
    who = caller.principal
    program_id = case_program(ctx, caller, case_id, Capability.ASSIGN)
    program = ctx.programs.get(program_id)
    if team_id and (program is None or team_id not in {t.id for t in program.teams}):
        return _back(case_id, f"no team {team_id!r} in {program_id}")
    try:
        owner_id = ownership.member_who_can_own(ctx.store, username, program_id)
        ownership.change_owner(
            ctx.store, case_id, owner_id=owner_id, owner_name=username,
            team_id=team_id or None, shift_start=None, take_over=True,
            expected_version=parse_if_match(version), acting_user_id=who.user_id,
            actor=who.actor, now=ctx.clock(),
        )  # fmt: skip
    except visits.VisitRecordError as exc:
        return _back(case_id, str(http_error(exc).detail))
    return _back(case_id, message=f"Assigned to {username}.")


def _attempt_time(text: str, zone: str, now: datetime) -> datetime:
    """The form's local time (in the program's zone) as an aware time; empty: now."""
    if not text:
        return now
    local = datetime.fromisoformat(text)
    if local.tzinfo is not None:
        return local
    return local.replace(tzinfo=ZoneInfo(zone))


@router.post("/cases/{case_id}/attempts")
def attempt(
    case_id: str,
    request: Request,
    caller: PageCaller,
    result: Annotated[str, Form(max_length=48)] = "",
    referral: Annotated[str, Form(max_length=48)] = "",
    team_id: Annotated[str, Form(max_length=64)] = "",
    close: Annotated[str, Form(max_length=8)] = "",
    at: Annotated[str, Form(max_length=40)] = "",
    method: Annotated[str, Form(max_length=16)] = "",
    notes: Annotated[str, Form(max_length=4000)] = "",
    people_met: Annotated[list[str] | None, Form()] = None,
    needs: Annotated[list[str] | None, Form()] = None,
    barriers: Annotated[list[str] | None, Form()] = None,
    services: Annotated[list[str] | None, Form()] = None,
    contact_id: Annotated[str, Form(max_length=12)] = "",
    version: Annotated[str | None, Form()] = None,
) -> Response:
    ctx = context_of(request)
    program_id = case_program(ctx, caller, case_id, Capability.RECORD)
    program = ctx.programs.get(program_id)
    if not result:
        return _back(case_id, "choose what happened (the result)")
    now = ctx.clock()
    try:
        when = _attempt_time(at, program.timezone if program else "UTC", now)
        record = AttemptCreate(
            result=VisitResult(result),
            referral=Referral(referral) if referral else None,
            team_id=team_id or None,
            close=close == "true",
            at=when,
            method=VisitMethod(method) if method else None,
            notes=notes.strip() or None,
            people_met=[PersonMet(p) for p in people_met or []],
            needs=needs or [],
            barriers=barriers or [],
            services=[ServiceGiven(s) for s in services or []],
            contact_id=int(contact_id) if contact_id else None,
        )
    except (ValueError, ValidationError):
        return _back(case_id, "unknown result, method, time or choice; check the form")
    clinical_only = record.referral or record.notes or record.needs or record.barriers
    if clinical_only or record.services:
        require(caller, program_id, Capability.VIEW_CLINICAL)
    try:
        done = record_visit(ctx, caller, program_id, case_id, record, when, parse_if_match(version))
    except HTTPException as exc:
        return _back(case_id, str(exc.detail))
    closed = " The case is closed." if record.close else ""
    return _back(case_id, message=f"Attempt {done.attempt_no} saved.{closed}")


@router.post("/cases/{case_id}/callback-handled")
def callback_handled(
    case_id: str,
    request: Request,
    caller: PageCaller,
    version: Annotated[str | None, Form()] = None,
) -> Response:
    ctx = context_of(request)
    case_program(ctx, caller, case_id, Capability.RECORD)
    try:
        visits.callback_handled(
            ctx.store, case_id, actor=caller.principal.actor, now=ctx.clock(),
            expected_version=parse_if_match(version),
        )  # fmt: skip
    except visits.VisitRecordError as exc:
        return _back(case_id, str(http_error(exc).detail))
    return _back(case_id, message="Call-back marked as handled.")


@router.post("/cases/{case_id}/possible-death")
def possible_death(
    case_id: str,
    request: Request,
    caller: PageCaller,
    decision: Annotated[str, Form(max_length=16)],
) -> Response:
    ctx = context_of(request)
    program_id = case_program(ctx, caller, case_id, Capability.REVIEW)
    if decision not in ("confirm", "dismiss"):
        return _back(case_id, "decide confirm or dismiss")
    try:
        decide_death(ctx, caller, program_id, case_id, confirm=decision == "confirm")
    except HTTPException as exc:
        return _back(case_id, str(exc.detail))
    return _back(case_id, message="Death confirmed." if decision == "confirm" else "Dismissed.")

"""The scheduler's pages: sign in, queue (live), case, shift plan, reviews.

Forms post with the session's CSRF token (checked in services/api/auth.py);
every change goes through the same service functions as the API."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from schemas.case_views import AttemptCreate
from schemas.cases import Referral, Tier, VisitResult
from services.accounts.credentials import close_session, open_session, same_secret
from services.accounts.lockout import locked_hint, throttle_of
from services.accounts.redaction import redact, sees_tier
from services.accounts.roles import Capability
from services.accounts.users import authenticate
from services.api.auth import SESSION_COOKIE, Caller, PageCaller, context_of, require
from services.api.case_actions import (
    case_program,
    decide_death,
    filters_from,
    parse_if_match,
    record_visit,
)
from services.api.errors import http_error
from services.api.limits import sign_in_allowed
from services.api.program_actions import decide_review, open_review_views, plans_for
from services.api.web.render import page
from services.bootstrap import Context
from services.cases import ownership, read_views, visits
from services.store.queue_reads import queue_page

router = APIRouter(include_in_schema=False)
LOGIN_COOKIE = "qrt_login"
PAGE_SIZE = 200


def _common(ctx: Context, caller: Caller) -> dict[str, Any]:
    return {
        "who": caller.principal,
        "csrf": caller.csrf_token,
        "programs": caller.principal.programs(ctx.programs.ids),
        "now": ctx.clock(),
    }


def _program(ctx: Context, caller: Caller, program_id: str) -> Any:
    require(caller, program_id, Capability.VIEW_QUEUE)
    program = ctx.programs.get(program_id)
    if program is None:
        raise HTTPException(status_code=404, detail=f"no program {program_id!r}")
    return program


def _safe_next(value: str | None) -> str:
    """Only a path on this site: no open redirect."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    response = page(request, "login.html", login_csrf=token, next=_safe_next(next), who=None)
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="strict", max_age=1800,
        secure=context_of(request).settings.secure_cookies,
    )  # fmt: skip
    return response


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    ctx = context_of(request)
    if not same_secret(request.cookies.get(LOGIN_COOKIE), csrf_token):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token")
    allowed = sign_in_allowed(ctx, request, username)
    if allowed.refused:
        response = page(
            request, "login.html", status_code=429, login_csrf=csrf_token,
            next=_safe_next(next), who=None,
            error=f"Too many sign-ins; try again in {allowed.retry_after} s",
        )  # fmt: skip
        response.headers["Retry-After"] = allowed.retry_after
        return response
    principal = authenticate(
        ctx.store, username, password, now=ctx.clock(), throttle=throttle_of(ctx.settings)
    )
    if principal is None:
        token = secrets.token_urlsafe(24)
        response = page(
            request, "login.html", status_code=401, login_csrf=token, next=_safe_next(next),
            who=None, error=locked_hint(ctx.settings, "Wrong username or password"),
        )  # fmt: skip
        response.set_cookie(
            LOGIN_COOKIE, token, httponly=True, samesite="strict", max_age=1800,
            secure=ctx.settings.secure_cookies,
        )  # fmt: skip
        return response
    lifetime = timedelta(hours=ctx.settings.session_hours)
    cookie, _ = open_session(ctx.store, principal, lifetime=lifetime, now=ctx.clock())
    redirect = RedirectResponse(_safe_next(next), status_code=303)
    redirect.set_cookie(
        SESSION_COOKIE, cookie, httponly=True, samesite="strict", path="/",
        max_age=int(lifetime.total_seconds()), secure=ctx.settings.secure_cookies,
    )  # fmt: skip
    redirect.delete_cookie(LOGIN_COOKIE)
    return redirect


@router.post("/logout")
def logout(request: Request, caller: PageCaller) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        close_session(context_of(request).store, cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(request: Request, caller: PageCaller) -> Response:
    programs = caller.principal.programs(context_of(request).programs.ids)
    if not programs:
        raise HTTPException(status_code=403, detail="you are not a member of any program")
    return RedirectResponse(f"/programs/{programs[0]}/queue", status_code=303)


def _page_filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    tier = q.get("tier") or None
    return {
        "tier": tier if tier in {t.value for t in Tier} else None,
        "team": (q.get("team") or None),
        "at_risk": q.get("at_risk") == "true" or None,
        "callback_requested": q.get("callback_requested") == "true" or None,
        "owner": "me" if q.get("owner") == "me" else None,
    }


def _queue_values(request: Request, caller: Caller, program_id: str) -> dict[str, Any]:
    ctx = context_of(request)
    program = _program(ctx, caller, program_id)
    f = _page_filters(request)
    if not sees_tier(caller.principal, program_id):
        f["tier"] = None  # a role that sees no tiers gets no tier filter
    filters = filters_from(
        caller, [Tier(f["tier"])] if f["tier"] else None, "open", f["team"], f["at_risk"],
        None, f["callback_requested"], f["owner"], ctx,
    )  # fmt: skip
    with ctx.store.engine.connect() as conn:
        found = redact(
            queue_page(conn, program_id, filters, limit=PAGE_SIZE, now=ctx.clock()),
            caller.principal, program_id,
        )  # fmt: skip
    kept = {k: v for k, v in f.items() if v}
    return {
        **_common(ctx, caller),
        "program_id": program_id,
        "program_name": program.name,
        "zone": program.timezone,
        "page": found,
        "filters": f,
        "query": ("?" + urlencode(kept)) if kept else "",
        "tiers": [t.value for t in Tier] if sees_tier(caller.principal, program_id) else [],
        "can_review": caller.principal.can(program_id, Capability.REVIEW),
        "can_export": caller.principal.can(program_id, Capability.EXPORT),
    }


@router.get("/programs/{program_id}/queue", response_class=HTMLResponse)
def queue_view(program_id: str, request: Request, caller: PageCaller) -> Response:
    return page(request, "queue.html", **_queue_values(request, caller, program_id))


@router.get("/programs/{program_id}/queue/rows", response_class=HTMLResponse)
def queue_rows(program_id: str, request: Request, caller: PageCaller) -> Response:
    values = _queue_values(request, caller, program_id)
    response = page(request, "queue_rows.html", **values)
    response.headers["X-Total-Count"] = str(values["page"].total)
    return response


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_view(
    case_id: str, request: Request, caller: PageCaller, error: str | None = None
) -> Response:
    ctx = context_of(request)
    detail = read_views.read_case(ctx.store, ctx.cipher, case_id, caller.principal, ctx.clock())
    if detail is None:
        raise HTTPException(status_code=404, detail=f"no case {case_id!r}")
    program = ctx.programs.get(detail.program_id)
    who = caller.principal
    return page(
        request, "case.html", **_common(ctx, caller), case=detail,
        zone=program.timezone if program else "UTC",
        teams=[t.id for t in program.teams] if program else [],
        results=[r.value for r in VisitResult], referrals=[r.value for r in Referral],
        can_claim=who.can(detail.program_id, Capability.CLAIM),
        can_record=who.can(detail.program_id, Capability.RECORD),
        can_clinical=who.can(detail.program_id, Capability.VIEW_CLINICAL),
        can_decide_death=who.can(detail.program_id, Capability.REVIEW),
        error=error,
    )  # fmt: skip


def _back(case_id: str, error: str | None = None) -> Response:
    query = f"?{urlencode({'error': error})}" if error else ""
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
    return _back(case_id)


@router.post("/cases/{case_id}/attempts")
def attempt(
    case_id: str,
    request: Request,
    caller: PageCaller,
    result: Annotated[str, Form(max_length=48)],
    referral: Annotated[str, Form(max_length=48)] = "",
    team_id: Annotated[str, Form(max_length=64)] = "",
    close: Annotated[str, Form(max_length=8)] = "",
    version: Annotated[str | None, Form()] = None,
) -> Response:
    ctx = context_of(request)
    program_id = case_program(ctx, caller, case_id, Capability.RECORD)
    try:
        record = AttemptCreate(
            result=VisitResult(result),
            referral=Referral(referral) if referral else None,
            team_id=team_id or None,
            close=close == "true",
        )
    except ValueError:
        return _back(case_id, "unknown result or referral")
    if record.referral is not None:
        require(caller, program_id, Capability.VIEW_CLINICAL)
    try:
        record_visit(ctx, caller, program_id, case_id, record, ctx.clock(), parse_if_match(version))
    except HTTPException as exc:
        return _back(case_id, str(exc.detail))
    return _back(case_id)


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
    return _back(case_id)


@router.get("/programs/{program_id}/plan", response_class=HTMLResponse)
def plan_view(program_id: str, request: Request, caller: PageCaller) -> Response:
    ctx = context_of(request)
    program = _program(ctx, caller, program_id)
    plans = redact(plans_for(ctx, program_id, None, None, 8), caller.principal, program_id)
    people = read_views.plan_people(
        ctx.store, ctx.cipher, plans, caller.principal, program_id, ctx.clock()
    )
    return page(
        request, "plan.html", **_common(ctx, caller), program_id=program_id,
        program_name=program.name, zone=program.timezone, plans=plans, people=people,
    )  # fmt: skip


@router.get("/programs/{program_id}/reviews", response_class=HTMLResponse)
def reviews_view(
    program_id: str, request: Request, caller: PageCaller, message: str | None = None
) -> Response:
    ctx = context_of(request)
    program = _program(ctx, caller, program_id)
    require(caller, program_id, Capability.REVIEW)
    found = open_review_views(ctx, caller, program_id)
    return page(
        request, "reviews.html", **_common(ctx, caller), program_id=program_id,
        program_name=program.name, reviews=found, message=message,
    )  # fmt: skip


@router.post("/reviews/{review_id}")
def review_decision(
    review_id: int,
    request: Request,
    caller: PageCaller,
    decision: Annotated[str, Form(pattern="^(link|keep_apart)$")],
) -> Response:
    program_id = decide_review(context_of(request), caller, review_id, decision)
    done = "linked" if decision == "link" else "kept apart"
    return RedirectResponse(
        f"/programs/{program_id}/reviews?{urlencode({'message': f'Review {review_id} {done}.'})}",
        status_code=303,
    )

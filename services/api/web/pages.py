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

from services.accounts.credentials import close_session, open_session, same_secret
from services.accounts.lockout import locked_hint, throttle_of
from services.accounts.roles import Capability
from services.accounts.users import authenticate
from services.api.auth import SESSION_COOKIE, Caller, PageCaller, context_of, require
from services.api.limits import sign_in_allowed
from services.api.program_actions import decide_review, open_review_views
from services.api.web.render import page
from services.bootstrap import Context

router = APIRouter(include_in_schema=False)
LOGIN_COOKIE = "qrt_login"


def page_common(ctx: Context, caller: Caller) -> dict[str, Any]:
    return {
        "who": caller.principal,
        "csrf": caller.csrf_token,
        "programs": caller.principal.programs(ctx.programs.ids),
        "now": ctx.clock(),
    }


def page_program(ctx: Context, caller: Caller, program_id: str) -> Any:
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


@router.get("/programs/{program_id}/reviews", response_class=HTMLResponse)
def reviews_view(
    program_id: str, request: Request, caller: PageCaller, message: str | None = None
) -> Response:
    ctx = context_of(request)
    program = page_program(ctx, caller, program_id)
    require(caller, program_id, Capability.REVIEW)
    found = open_review_views(ctx, caller, program_id)
    return page(
        request, "reviews.html", **page_common(ctx, caller), program_id=program_id,
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

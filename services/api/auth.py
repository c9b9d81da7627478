"""Who is asking: a bearer token (API) or a session cookie (pages).

A request that changes anything on a session cookie must carry the session's
CSRF token (form field `csrf_token` or header `X-CSRF-Token`), else 403. A
case or program outside the user's programs answers 404, as if it did not
exist; a role without the capability answers 403."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from services.accounts.credentials import principal_for_token, same_secret, session_for
from services.accounts.roles import Capability, Principal
from services.bootstrap import Context

SESSION_COOKIE = "qrt_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Caller:
    principal: Principal
    csrf_token: str | None  # None for a bearer token (no ambient credential, no CSRF)
    programs: frozenset[str] = frozenset()  # the programs that exist (the programs file)


class LoginRequired(Exception):
    """A page asked for without a session: the answer is a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        self.location = f"/login?next={quote(next_path, safe='/')}"


def context_of(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


async def _caller(request: Request) -> Caller | None:
    ctx = context_of(request)
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        principal = await run_in_threadpool(
            principal_for_token, ctx.store, header[7:].strip(), ctx.clock()
        )
        if principal is None:
            raise HTTPException(
                status_code=401,
                detail="the bearer token is unknown, expired or revoked",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return Caller(principal, None, frozenset(ctx.programs.ids))
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    session = await run_in_threadpool(session_for, ctx.store, cookie, ctx.clock())
    if session is None:
        return None
    if request.method in UNSAFE:
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
        if not same_secret(sent, session.csrf_token):
            raise HTTPException(status_code=403, detail="missing or wrong CSRF token")
    return Caller(session.principal, session.csrf_token, frozenset(ctx.programs.ids))


async def current_principal(request: Request) -> Principal | None:
    """The request's credential (bearer token or session cookie) as it stands now: None
    once the token is revoked or expired, the session ended, or the user disabled."""
    try:
        caller = await _caller(request)
    except HTTPException:
        return None
    return None if caller is None else caller.principal


async def api_caller(request: Request) -> Caller:
    caller = await _caller(request)
    if caller is None:
        raise HTTPException(
            status_code=401,
            detail="sign in: send a bearer token (POST /api/v1/tokens) or a session cookie",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return caller


async def page_caller(request: Request) -> Caller:
    caller = await _caller(request)
    if caller is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path)
    return caller


ApiCaller = Annotated[Caller, Depends(api_caller)]
PageCaller = Annotated[Caller, Depends(page_caller)]


def require(caller: Caller, program_id: str, capability: Capability) -> None:
    """404 outside the caller's programs (and for a program that does not exist, even for
    an admin of every program); 403 inside them without the capability."""
    who = caller.principal
    if who.role_in(program_id) is None or program_id not in caller.programs:
        raise HTTPException(status_code=404, detail=no_program(caller, program_id))
    if not who.can(program_id, capability):
        raise HTTPException(
            status_code=403,
            detail=f"your role in {program_id} may not {capability.value.replace('_', ' ')}",
        )


def no_program(caller: Caller, program_id: str) -> str:
    """The 404's words: the program is unknown, and which programs the caller may see
    (all of them for an admin of every program; never one the caller is not in)."""
    mine = caller.principal.programs(sorted(caller.programs))
    return f"no program {program_id!r}; your programs: {', '.join(mine) or 'none'}"

"""Signing in over the API: a bearer token for a username and password; who am I."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, Response
from pydantic import BaseModel

from schemas.accounts import Membership, TokenIssued, UserRead
from services.accounts.credentials import issue_token, revoke_token, tokens_of
from services.accounts.lockout import locked_hint, throttle_of
from services.accounts.users import authenticate
from services.api.auth import ApiCaller, context_of
from services.api.errors import storable_text
from services.api.limits import sign_in_allowed

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.post(
    "/tokens",
    response_model=TokenIssued,
    status_code=201,
    summary="A bearer token for a username and password (OAuth2 password form)",
    responses={401: {"description": "wrong username or password, or the account is locked"}},
)
def post_token(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    label: Annotated[str | None, Form(max_length=100)] = None,
) -> TokenIssued:
    ctx = context_of(request)
    now = ctx.clock()
    storable_text("username", username)
    storable_text("label", label)
    allowed = sign_in_allowed(ctx, request, username)
    if allowed.refused:
        raise HTTPException(
            status_code=429,
            detail=f"too many sign-ins; try again in {allowed.retry_after} s",
            headers={"Retry-After": allowed.retry_after},
        )
    principal = authenticate(
        ctx.store, username, password, now=now, throttle=throttle_of(ctx.settings)
    )
    if principal is None:
        raise HTTPException(
            status_code=401,
            detail=locked_hint(ctx.settings, "wrong username or password"),
            headers={"WWW-Authenticate": "Bearer"},
        )
    lifetime = timedelta(days=ctx.settings.token_days)
    return issue_token(ctx.store, principal, label=label, lifetime=lifetime, now=now)


@router.get("/me", response_model=UserRead, summary="Who the token or session belongs to")
def get_me(caller: ApiCaller) -> UserRead:
    who = caller.principal
    return UserRead(
        id=who.user_id,
        username=who.username,
        memberships=[Membership(program_id=p, role=r) for p, r in sorted(who.roles.items())],
    )


class TokenRead(BaseModel):
    """One of your bearer tokens (never the token itself)."""

    id: str
    label: str | None
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@router.get("/me/tokens", response_model=list[TokenRead], summary="Your bearer tokens")
def get_my_tokens(request: Request, caller: ApiCaller) -> list[TokenRead]:
    ctx = context_of(request)
    return [TokenRead(**vars(t)) for t in tokens_of(ctx.store, caller.principal.user_id)]


@router.delete("/me/tokens/{token_id}", status_code=204, summary="Revoke one of your tokens")
def delete_my_token(token_id: str, request: Request, caller: ApiCaller) -> Response:
    ctx = context_of(request)
    who = caller.principal
    if not revoke_token(ctx.store, who.user_id, token_id, actor=who.actor, now=ctx.clock()):
        raise HTTPException(status_code=404, detail=f"you have no active token {token_id!r}")
    return Response(status_code=204)

"""Signing in over the API: a bearer token for a username and password (a JSON body or
the OAuth2 password form); who am I; your tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from schemas.accounts import Membership, TokenIssued, UserRead
from services.accounts.credentials import issue_token, revoke_token, tokens_of
from services.accounts.lockout import locked_hint, throttle_of
from services.accounts.users import authenticate
from services.api.auth import ApiCaller, context_of
from services.api.errors import storable_text
from services.api.limits import sign_in_allowed

router = APIRouter(prefix="/api/v1", tags=["accounts"])


class SignIn(BaseModel):
    """A username and password (and a label for the token), as JSON or as form fields;
    other fields (an OAuth2 client's `grant_type`, `scope`) are ignored."""

    username: Annotated[str, Field(max_length=64)]
    password: Annotated[str, Field(max_length=1024)]
    label: Annotated[str | None, Field(max_length=100)] = None


FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
SIGN_IN_BODY = {
    "required": True,
    "content": {
        kind: {"schema": SignIn.model_json_schema()}
        for kind in ("application/json", "application/x-www-form-urlencoded")
    },
}


async def sign_in_body(request: Request) -> SignIn:
    """The body of `POST /api/v1/tokens`: a JSON object, or the OAuth2 password form."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data: Any
    if kind == "application/json" or kind.endswith("+json"):
        try:
            data = await request.json()
        except ValueError:
            raise HTTPException(status_code=422, detail="the body is not JSON") from None
    elif kind in FORMS:
        form = await request.form()
        data = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    else:
        raise HTTPException(
            status_code=415,
            detail='send JSON ({"username": ..., "password": ...}) or form fields',
        )
    try:
        return SignIn.model_validate(data)
    except ValidationError as exc:  # said without the values sent: one is a password
        raise RequestValidationError(
            [
                {**e, "loc": ("body", *e["loc"])}
                for e in exc.errors(include_url=False, include_input=False, include_context=False)
            ]
        ) from None


@router.post(
    "/tokens",
    response_model=TokenIssued,
    status_code=201,
    summary="A bearer token for a username and password (JSON, or the OAuth2 password form)",
    responses={
        401: {"description": "wrong username or password, or the account is locked"},
        415: {"description": "neither JSON nor form fields"},
    },
    openapi_extra={"requestBody": SIGN_IN_BODY},
)
def post_token(request: Request, body: Annotated[SignIn, Depends(sign_in_body)]) -> TokenIssued:
    username, password, label = body.username, body.password, body.label
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

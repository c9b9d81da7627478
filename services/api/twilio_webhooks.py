"""Twilio's webhooks: `POST /twilio/status` and `POST /twilio/inbound`.

Both check `X-Twilio-Signature` with twilio's own RequestValidator against the
URL Twilio called: `QRT_TWILIO_PUBLIC_URL` + path when set (behind a proxy that
is the only reliable form; production requires it), else the URL rebuilt from
X-Forwarded-Proto/-Host when the peer is one of `QRT_TRUSTED_PROXIES`, else the
request's own. A missing or wrong signature, or no auth token
configured, answers 403 and changes nothing. Both are idempotent on MessageSid.
An inbound text's form (with Advanced Opt-Out's `OptOutType`) goes whole to
`reply_from_form`, the one way in for replies (`qrt sms inbound` uses it too)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, HTTPException, Request, Response
from twilio.request_validator import RequestValidator

from services.api.client_address import from_trusted_proxy
from services.bootstrap import Context
from services.sms.inbound import MissingField, handle_status, reply_from_form

log = logging.getLogger(__name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

router = APIRouter(tags=["twilio"])


def called_url(request: Request, public_url: str | None, trusted_proxies: str = "") -> str:
    path_and_query = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if public_url:
        return public_url.rstrip("/") + path_and_query
    forwarded = from_trusted_proxy(request, trusted_proxies)
    proto = request.headers.get("x-forwarded-proto") if forwarded else None
    host = request.headers.get("x-forwarded-host") if forwarded else None
    if proto or host:
        base = f"{(proto or request.url.scheme).split(',')[0].strip()}://"
        base += (host or request.headers.get("host") or request.url.netloc).split(",")[0].strip()
        return base + path_and_query
    return str(request.url)


async def signed_form(request: Request) -> dict[str, str]:
    ctx: Context = request.app.state.ctx
    token = ctx.settings.twilio_auth_token
    if token is None:
        raise HTTPException(403, "Twilio webhooks are off: TWILIO_AUTH_TOKEN is not set")
    form = await request.form()
    params = {k: str(v) for k, v in form.multi_items()}
    signature = request.headers.get("x-twilio-signature", "")
    url = called_url(request, ctx.settings.twilio_public_url, ctx.settings.trusted_proxies)
    if not signature or not RequestValidator(token.get_secret_value()).validate(
        url, params, signature
    ):
        log.warning("refused a Twilio webhook with a missing or wrong signature")
        raise HTTPException(403, "missing or invalid X-Twilio-Signature")
    return params


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise HTTPException(422, f"form field {name} is missing")
    return value


@router.post("/twilio/status", status_code=204, summary="Twilio delivery status callback")
async def status_callback(request: Request) -> Response:
    params = await signed_form(request)
    ctx: Context = request.app.state.ctx
    code = params.get("ErrorCode")
    await asyncio.to_thread(
        handle_status,
        ctx.store,
        _required(params, "MessageSid"),
        _required(params, "MessageStatus"),
        int(code) if code and code.isdigit() else None,
        ctx.clock(),
    )
    return Response(status_code=204)


@router.post("/twilio/inbound", summary="A text from a client (answered with empty TwiML)")
async def inbound(request: Request) -> Response:
    params = await signed_form(request)
    ctx: Context = request.app.state.ctx
    try:
        await asyncio.to_thread(reply_from_form, ctx.store, ctx.cipher, params, ctx.clock())
    except MissingField as exc:
        raise HTTPException(422, str(exc)) from None
    return Response(content=EMPTY_TWIML, media_type="application/xml")

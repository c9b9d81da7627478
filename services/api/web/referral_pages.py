"""The staff's referral form (`/programs/{id}/referrals/new`), linked from the queue: a
member who may record sends a referral as the program's own staff, through the same
action as the API (services/api/referral_actions.py); then a page that waits for the
workers and goes on to the case once it is there.

The form posts with the session's CSRF token; its id is made when the form is shown, so
sending the same form twice is one referral. Only a role with clinical sight is given
the notes field (it could not read them back otherwise)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from schemas.cases import ReferralKind
from schemas.referral_event import ReferralBody, Urgency
from services.accounts.roles import Capability
from services.api.auth import Caller, PageCaller, context_of, require
from services.api.referral_actions import accept_referral
from services.api.web.pages import page_common, page_program
from services.api.web.render import page
from services.ingest.referral_intake import Sender, referral_case

router = APIRouter(include_in_schema=False)
TEXTS = (
    "first_name", "last_name", "dob", "phone", "language", "address", "city", "state", "zip",
    "where", "referrer_name", "referrer_relation", "referrer_phone", "notes",
)  # fmt: skip
_FIELDS = ("referral_id", "kind", "urgency", "referred_at", "consent_visit", "consent_sms")
YES_NO = {"yes": True, "no": False}


def _form_values(
    request: Request, caller: Caller, program_id: str, **values: Any
) -> dict[str, Any]:
    ctx = context_of(request)
    program = page_program(ctx, caller, program_id)
    require(caller, program_id, Capability.RECORD)
    return {
        **page_common(ctx, caller), "program_id": program_id, "program_name": program.name,
        "zone": program.timezone, "kinds": [k.value for k in ReferralKind],
        "urgencies": [u.value for u in Urgency],
        "can_clinical": caller.principal.can(program_id, Capability.VIEW_CLINICAL),
        "form": {"referral_id": str(uuid.uuid4())}, **values,
    }  # fmt: skip


@router.get("/programs/{program_id}/referrals/new", response_class=HTMLResponse)
def referral_form(program_id: str, request: Request, caller: PageCaller) -> Response:
    return page(request, "referral_form.html", **_form_values(request, caller, program_id))


def _text(form: dict[str, str], name: str) -> str | None:
    return form.get(name, "").strip() or None


def _when(text: str | None, zone: str) -> str | None:
    """The form's local time (in the program's zone) as ISO with its offset."""
    if text is None:
        return None
    local = datetime.fromisoformat(text)
    return (local if local.tzinfo else local.replace(tzinfo=ZoneInfo(zone))).isoformat()


def body_of(form: dict[str, str], zone: str) -> ReferralBody:
    """The form as the API's body; raises ValueError (ValidationError) when refused."""
    address = {k: _text(form, k) for k in ("address", "city", "state", "zip")}
    person = {k: _text(form, k) for k in ("first_name", "last_name", "dob", "phone", "where")}
    person.update(language=_text(form, "language"))
    referrer = {k: _text(form, f"referrer_{k}") for k in ("name", "relation", "phone")}
    consent = {k: YES_NO.get(form.get(f"consent_{k}", "")) for k in ("visit", "sms")}
    data: dict[str, Any] = {
        "referral_id": _text(form, "referral_id"),
        "kind": form.get("kind") or None,
        "urgency": _text(form, "urgency"),
        "referred_at": _when(_text(form, "referred_at"), zone),
        "person": {**person, "address": address if any(address.values()) else None},
        "referrer": referrer if any(referrer.values()) else None,
        "consent": consent,
        "notes": _text(form, "notes"),
    }
    return ReferralBody.model_validate(_without_none(data))


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value


def _problems(exc: ValueError) -> str:
    if not isinstance(exc, ValidationError):
        return f"check the time: {exc}"
    said = []
    for err in exc.errors(include_url=False, include_input=False):
        message = err["msg"].removeprefix("Value error, ")
        field = [str(p) for p in err["loc"] if p not in ("person", "address")]
        said.append(f"{' '.join(field).replace('_', ' ')}: {message}" if field else message)
    text = "; ".join(said)
    return text[:1].upper() + text[1:]


@router.post("/programs/{program_id}/referrals/new", response_class=HTMLResponse)
async def send_referral(program_id: str, request: Request, caller: PageCaller) -> Response:
    ctx = context_of(request)
    values = _form_values(request, caller, program_id)
    raw = await request.form()
    form = {k: v for k, v in raw.items() if isinstance(v, str) and k in (*TEXTS, *_FIELDS)}
    if form.get("notes") and not values["can_clinical"]:
        require(caller, program_id, Capability.VIEW_CLINICAL)
    try:
        body = body_of(form, values["zone"])
        done = await accept_referral(
            request, ctx, program_id, body, Sender(actor=caller.principal.actor)
        )
    except ValueError as exc:
        return _again(request, values, form, _problems(exc))
    except HTTPException as exc:
        if exc.status_code == 503:
            return _again(request, values, form, "The referral could not be sent now: try again.")
        raise
    return RedirectResponse(
        f"/programs/{program_id}/referrals/{quote(done.referral_id, safe='')}", status_code=303
    )


def _again(request: Request, values: dict[str, Any], form: dict[str, str], why: str) -> Response:
    """The form again, as it was filled, with what to fix."""
    kept = {**form, "referral_id": form.get("referral_id") or values["form"]["referral_id"]}
    return page(
        request, "referral_form.html", status_code=422, **{**values, "form": kept, "error": why}
    )


@router.get("/programs/{program_id}/referrals/{referral_id}", response_class=HTMLResponse)
def referral_status(
    program_id: str, referral_id: str, request: Request, caller: PageCaller
) -> Response:
    """The case once the workers have it; until then a page that looks again."""
    ctx = context_of(request)
    program = page_program(ctx, caller, program_id)
    if len(referral_id) > 128 or "\x00" in referral_id:
        raise HTTPException(status_code=404, detail=f"no referral {referral_id!r}")
    stored, case_id = referral_case(ctx.store, program_id, referral_id)
    if case_id is not None:
        said = urlencode({"message": "Referral recorded."})
        return RedirectResponse(f"/cases/{case_id}?{said}", status_code=303)
    return page(
        request, "referral_status.html", **page_common(ctx, caller), program_id=program_id,
        program_name=program.name, referral_id=referral_id, stored=stored,
        days=program.max_event_age_days,
    )  # fmt: skip

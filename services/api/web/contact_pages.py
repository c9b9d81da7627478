"""The case page's contacts (templates/contacts.html): add one, remove one. Forms post
with the session's CSRF token and go through the API's own actions
(services/api/contact_actions.py); the answer is the case page again, saying what was
done or why not."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from schemas.contacts import ContactCreate
from schemas.engagement_views import ContactRelation
from services.api import contact_actions
from services.api.auth import PageCaller, context_of
from services.api.case_actions import parse_if_match

router = APIRouter(include_in_schema=False)


def _back(case_id: str, *, error: str | None = None, message: str | None = None) -> Response:
    said = {k: v for k, v in (("error", error), ("message", message)) if v}
    query = f"?{urlencode(said)}" if said else ""
    return RedirectResponse(f"/cases/{case_id}{query}#contacts", status_code=303)


@router.post("/cases/{case_id}/contacts")
def add_contact(
    case_id: str,
    request: Request,
    caller: PageCaller,
    name: Annotated[str, Form(max_length=200)] = "",
    relation: Annotated[str, Form(max_length=16)] = "",
    phone: Annotated[str, Form(max_length=64)] = "",
    sms_consent: Annotated[str, Form(max_length=8)] = "",
    version: Annotated[str | None, Form()] = None,
) -> Response:
    ctx = context_of(request)
    try:
        body = ContactCreate(
            name=name,
            relation=ContactRelation(relation),
            phone=phone.strip() or None,
            sms_consent=sms_consent == "true",
        )
    except (ValueError, ValidationError):
        return _back(case_id, error="give the contact's name (up to 100 characters) and relation")
    try:
        contact_actions.add(ctx, caller, case_id, body, parse_if_match(version))
    except HTTPException as exc:
        if exc.status_code in (403, 404):
            raise
        return _back(case_id, error=str(exc.detail))
    return _back(case_id, message=f"Contact {body.name} added.")


@router.post("/cases/{case_id}/contacts/{contact_id}/remove")
def remove_contact(
    case_id: str,
    contact_id: int,
    request: Request,
    caller: PageCaller,
    version: Annotated[str | None, Form()] = None,
) -> Response:
    ctx = context_of(request)
    try:
        contact_actions.remove(ctx, caller, case_id, contact_id, parse_if_match(version))
    except HTTPException as exc:
        if exc.status_code == 403 or "no case" in str(exc.detail):
            raise
        return _back(case_id, error=str(exc.detail))
    return _back(case_id, message="Contact removed.")

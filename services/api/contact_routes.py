"""The contacts of a case (family, friends, a partner): `POST /api/v1/cases/{id}/contacts`
adds one, `DELETE /api/v1/cases/{id}/contacts/{contact_id}` removes one. They are
listed in the case's detail (`GET /api/v1/cases/{id}`: `contacts` for roles that see
identities, `contacts_count` for every role). Both answer the case's new version as
its `ETag` and honour `If-Match` (412 when the case changed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response

from schemas.contacts import ContactChange, ContactCreate
from services.api import contact_actions
from services.api.auth import ApiCaller, context_of
from services.api.case_actions import etag, parse_if_match

router = APIRouter(prefix="/api/v1", tags=["queue"])


@router.post(
    "/cases/{case_id}/contacts",
    status_code=201,
    response_model=ContactChange,
    summary="Add a contact of the case (name, relation, phone, their own consent to texts)",
    responses={409: {"description": "the case is closed"}, 412: {"description": "changed"}},
)
def post_contact(
    case_id: str,
    body: ContactCreate,
    request: Request,
    response: Response,
    caller: ApiCaller,
    if_match: Annotated[str | None, Header()] = None,
) -> ContactChange:
    ctx = context_of(request)
    done = contact_actions.add(ctx, caller, case_id, body, parse_if_match(if_match))
    response.headers["ETag"] = etag(done.version)
    return done


@router.delete(
    "/cases/{case_id}/contacts/{contact_id}",
    response_model=ContactChange,
    summary="Remove a contact of the case: no longer listed, texted or copied",
    responses={404: {"description": "no such contact"}, 412: {"description": "changed"}},
)
def delete_contact(
    case_id: str,
    contact_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    request: Request,
    response: Response,
    caller: ApiCaller,
    if_match: Annotated[str | None, Header()] = None,
) -> ContactChange:
    ctx = context_of(request)
    done = contact_actions.remove(ctx, caller, case_id, contact_id, parse_if_match(if_match))
    response.headers["ETag"] = etag(done.version)
    return done

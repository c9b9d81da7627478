"""A person's history (`GET /api/v1/persons/{id}`) and a call-back answered another way
(`POST /api/v1/cases/{id}/callback/handled`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, Response

from schemas.person_views import PersonHistory
from services.accounts.roles import Capability
from services.api.auth import ApiCaller, context_of
from services.api.case_actions import call, case_program, etag, parse_if_match
from services.cases import read_views, visits
from services.cases.treatment import with_provider_names

router = APIRouter(prefix="/api/v1", tags=["queue"])


@router.get(
    "/persons/{person_id}",
    response_model=PersonHistory,
    summary="A person's overdoses, cases, attempts, texts and reviews (audited); "
    "only for roles that see identities",
)
def get_person(person_id: str, request: Request, caller: ApiCaller) -> PersonHistory:
    ctx = context_of(request)
    found = read_views.read_person(ctx.store, ctx.cipher, person_id, caller.principal, ctx.clock())
    if found is None:  # no such person, or one the caller may not see: the same answer
        raise HTTPException(status_code=404, detail=f"no person {person_id!r} you may see")
    return with_provider_names(found, ctx.programs)


@router.post(
    "/cases/{case_id}/callback/handled",
    summary="The client's call-back request was answered another way: clear it",
    responses={412: {"description": "changed"}},
)
def post_callback_handled(
    case_id: str,
    request: Request,
    response: Response,
    caller: ApiCaller,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    ctx = context_of(request)
    case_program(ctx, caller, case_id, Capability.RECORD)
    version = call(
        visits.callback_handled, ctx.store, case_id, actor=caller.principal.actor,
        now=ctx.clock(), expected_version=parse_if_match(if_match),
    )  # fmt: skip
    response.headers["ETag"] = etag(version)
    return {"case_id": case_id, "callback_requested": False, "version": version}

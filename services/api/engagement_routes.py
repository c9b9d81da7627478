"""Staying engaged through the API: `PUT /api/v1/cases/{id}/engagement` sets a contacted
client's next check-in or cadence, `DELETE` ends the engagement without closing the case
(services/cases/engagement.py).

Who: a member who may record visits and sees clinical facts (what a role may not read
back it may not write: law enforcement sees neither the tier nor the engagement). 409
for a case without a contact yet or a closed one, 412 when `If-Match` is not the
current version, 422 for a check-in that is not in the coming year."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from schemas.engaged import EngagementSet, EngagementView
from services.api.auth import ApiCaller, context_of
from services.api.case_actions import etag, parse_if_match
from services.api.engagement_actions import engagement_call, engagement_program
from services.api.errors import storable_time
from services.cases import engagement

router = APIRouter(prefix="/api/v1", tags=["queue"])
REFUSALS: dict[int | str, dict[str, Any]] = {
    409: {"description": "no contact with the client yet, or the case is closed"},
    412: {"description": "the case changed since you read it (If-Match)"},
}


def _view(done: engagement.Engagement, response: Response) -> EngagementView:
    response.headers["ETag"] = etag(done.version)
    return EngagementView(
        case_id=done.case_id, engaged=done.engaged, next_checkin_at=done.next_checkin_at,
        every_days=done.every_days, version=done.version,
    )  # fmt: skip


@router.put(
    "/cases/{case_id}/engagement",
    response_model=EngagementView,
    summary="Keep a contacted client engaged: the next check-in, or a check-in every N days",
    responses={**REFUSALS, 422: {"description": "no check-in, or not within the coming year"}},
)
def put_engagement(
    case_id: str,
    change: EngagementSet,
    request: Request,
    response: Response,
    caller: ApiCaller,
    if_match: Annotated[str | None, Header()] = None,
) -> EngagementView:
    ctx = context_of(request)
    program_id = engagement_program(ctx, caller, case_id)
    at = change.next_checkin_at
    done = engagement_call(
        engagement.set_engagement, ctx.store, case_id,
        next_checkin_at=storable_time("next_checkin_at", at) if at is not None else None,
        every_days=change.every_days, program=ctx.programs.get(program_id),
        actor=caller.principal.actor, now=ctx.clock(), expected_version=parse_if_match(if_match),
    )  # fmt: skip
    return _view(done, response)


@router.delete(
    "/cases/{case_id}/engagement",
    response_model=EngagementView,
    summary="End a client's engagement; the case stays open until an outcome closes it",
    responses=REFUSALS,
)
def delete_engagement(
    case_id: str,
    request: Request,
    response: Response,
    caller: ApiCaller,
    if_match: Annotated[str | None, Header()] = None,
) -> EngagementView:
    ctx = context_of(request)
    program_id = engagement_program(ctx, caller, case_id)
    done = engagement_call(
        engagement.end_engagement, ctx.store, case_id, program=ctx.programs.get(program_id),
        actor=caller.principal.actor, now=ctx.clock(), expected_version=parse_if_match(if_match),
    )  # fmt: skip
    return _view(done, response)

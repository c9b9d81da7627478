"""Per-program reads beyond the queue: the shift plan, the review queue, the CSV export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from schemas.case_views import ReviewDecision, ReviewView
from schemas.cases import ShiftPlan
from services.accounts.redaction import redact
from services.accounts.roles import Capability
from services.api.auth import ApiCaller, context_of, require
from services.api.program_actions import (
    decide_review,
    export_response,
    open_review_views,
    plans_for,
)

router = APIRouter(prefix="/api/v1", tags=["queue"])


@router.get(
    "/programs/{program_id}/plan",
    response_model=list[ShiftPlan],
    summary="Shift plans: the cases each team should visit on each shift",
)
def get_plan(
    program_id: str,
    request: Request,
    caller: ApiCaller,
    team: Annotated[str | None, Query(max_length=64)] = None,
    start: Annotated[datetime | None, Query(description="default: 24 h ago")] = None,
    days: Annotated[float, Query(gt=0, le=31)] = 8,
) -> list[ShiftPlan]:
    require(caller, program_id, Capability.VIEW_QUEUE)
    return redact(plans_for(context_of(request), program_id, team, start, days),
                  caller.principal, program_id)  # fmt: skip


@router.get(
    "/programs/{program_id}/reviews",
    response_model=list[ReviewView],
    summary="Uncertain person matches waiting for a decision (audited)",
)
def get_reviews(program_id: str, request: Request, caller: ApiCaller) -> list[ReviewView]:
    require(caller, program_id, Capability.REVIEW)
    return open_review_views(context_of(request), caller, program_id)


@router.post("/reviews/{review_id}", summary="Decide a review: link, or keep apart")
def post_review(
    review_id: int, body: ReviewDecision, request: Request, caller: ApiCaller
) -> dict[str, Any]:
    decide_review(context_of(request), caller, review_id, body.decision)
    return {"review_id": review_id, "decision": body.decision}


@router.get(
    "/programs/{program_id}/export.csv",
    summary="Cases as CSV, cut by role, with the 42 CFR Part 2 redisclosure notice (audited)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def get_export(
    program_id: str,
    request: Request,
    caller: ApiCaller,
    status: Annotated[str, Query(pattern="^(open|closed|all)$")] = "open",
) -> Any:
    return export_response(context_of(request), caller, program_id, status)

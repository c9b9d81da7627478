"""Per-program reads beyond the queue: the shift plan, the review queue, the CSV export."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request, Response

from schemas.case_views import ReviewDecision, ReviewView
from schemas.cases import ShiftPlan
from services.accounts.redaction import redact
from services.accounts.roles import Capability
from services.api.auth import ApiCaller, Caller, context_of, require
from services.api.errors import http_error, storable_time
from services.bootstrap import Context
from services.cases import reviews
from services.store.case_records import audit
from services.store.export_rows import export_csv
from services.store.queue_reads import person_view, shift_plans
from services.store.tables import match_reviews

router = APIRouter(prefix="/api/v1", tags=["queue"])


def attachment(filename: str) -> str:
    """A Content-Disposition for a download (RFC 6266): a plain ASCII name, and the
    exact name percent-encoded (RFC 8187) for clients that read `filename*`."""
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in filename)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def plans_for(
    ctx: Context, program_id: str, team: str | None, start: datetime | None, days: float
) -> list[ShiftPlan]:
    begin = storable_time("start", start or ctx.clock() - timedelta(hours=24))
    try:
        end = begin + timedelta(days=days)
    except OverflowError:
        raise HTTPException(status_code=422, detail="`start` + `days` is out of range") from None
    with ctx.store.engine.connect() as conn:
        return shift_plans(conn, program_id, team_id=team, start=begin, end=end, now=ctx.clock())


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


def open_review_views(ctx: Context, caller: Caller, program_id: str) -> list[ReviewView]:
    """The open reviews with both persons opened for the decision (audited)."""
    found = reviews.open_reviews(ctx.store, program_id)
    now = ctx.clock()
    out = []
    with ctx.store.transaction() as conn:
        for r in found:
            person = person_view(conn, ctx.cipher, r.person_id) if r.person_id else None
            candidate = person_view(conn, ctx.cipher, r.candidate_person_id)
            out.append(
                ReviewView(
                    id=r.id,
                    case_id=r.case_id,
                    person_id=r.person_id,
                    candidate_person_id=r.candidate_person_id,
                    score=r.score,
                    evidence=r.evidence,
                    created_at=r.created_at,
                    person=person,
                    candidate=candidate,
                )
            )
        if out:
            audit(conn, now, caller.principal.actor, "reviews_read", "program", program_id,
                  {"reviews": [r.id for r in out]})  # fmt: skip
    return out


@router.get(
    "/programs/{program_id}/reviews",
    response_model=list[ReviewView],
    summary="Uncertain person matches waiting for a decision (audited)",
)
def get_reviews(program_id: str, request: Request, caller: ApiCaller) -> list[ReviewView]:
    require(caller, program_id, Capability.REVIEW)
    return open_review_views(context_of(request), caller, program_id)


REVIEW_ID_MAX = 2**31 - 1  # an INTEGER column: a larger id exists nowhere


def decide_review(ctx: Context, caller: Caller, review_id: int, decision: str) -> str:
    if not 1 <= review_id <= REVIEW_ID_MAX:
        raise HTTPException(status_code=404, detail=f"no review {review_id}")
    with ctx.store.engine.connect() as conn:
        row = conn.execute(match_reviews.select().where(match_reviews.c.id == review_id)).first()
    if row is None or caller.principal.role_in(row.program_id) is None:
        raise HTTPException(status_code=404, detail=f"no review {review_id}")
    require(caller, row.program_id, Capability.REVIEW)
    program = ctx.programs.get(row.program_id)
    if program is None:
        raise HTTPException(status_code=409, detail=f"program {row.program_id} is not configured")
    try:
        if decision == "link":
            reviews.link_review(
                ctx.store, review_id, actor=caller.principal.actor, now=ctx.clock(),
                program=program,
            )  # fmt: skip
        else:
            reviews.keep_apart(ctx.store, review_id, actor=caller.principal.actor, now=ctx.clock())
    except reviews.ReviewError as exc:
        raise http_error(exc) from exc
    return str(row.program_id)


@router.post("/reviews/{review_id}", summary="Decide a review: link, or keep apart")
def post_review(
    review_id: int, body: ReviewDecision, request: Request, caller: ApiCaller
) -> dict[str, Any]:
    decide_review(context_of(request), caller, review_id, body.decision)
    return {"review_id": review_id, "decision": body.decision}


def export_response(ctx: Context, caller: Caller, program_id: str, status: str) -> Any:
    require(caller, program_id, Capability.EXPORT)

    with ctx.store.transaction() as conn:  # read and audit in one transaction
        body = "".join(
            export_csv(conn, ctx.cipher, program_id, caller.principal, ctx.clock(), status=status)
        )
    stamp = ctx.clock().strftime("%Y%m%dT%H%MZ")
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": attachment(f"{program_id}-cases-{stamp}.csv"),
            "Cache-Control": "no-store",
        },
    )


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

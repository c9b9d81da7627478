"""The work-queue API: queue, case detail, owner, attempts and outcomes.

Versions: every case answer carries `ETag: "<version>"`; a change sent with
`If-Match` is refused with 412 when the case changed since. A claim on a case
someone else owns is 409; a coordinator's assignment may take it over."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response

from schemas.case_views import (
    AttemptCreate,
    CaseDetail,
    DeathDecision,
    OutcomeCreate,
    OwnerChange,
)
from schemas.cases import QueuePage, Tier
from services.accounts.redaction import redact
from services.accounts.roles import Capability
from services.api.auth import ApiCaller, context_of, require
from services.api.case_actions import (
    call,
    case_program,
    decide_death,
    etag,
    filters_from,
    no_tier_filter_unless_seen,
    parse_if_match,
    record_visit,
)
from services.api.errors import storable_text, storable_time
from services.cases import ownership, read_views, visits
from services.cases.treatment import with_provider_names
from services.store.queue_people import QueueInclude, read_queue_people
from services.store.queue_reads import queue_page

router = APIRouter(prefix="/api/v1", tags=["queue"])


@router.get(
    "/programs/{program_id}/queue",
    response_model=QueuePage,
    summary="Cases of one program in QRT priority order, filtered; ids only unless `include`",
)
def get_queue(
    program_id: str,
    request: Request,
    caller: ApiCaller,
    tier: Annotated[list[Tier] | None, Query()] = None,
    status: Annotated[str, Query(pattern="^(open|closed|all)$")] = "open",
    team: Annotated[str | None, Query(max_length=64)] = None,
    at_risk: bool | None = None,
    missed: bool | None = None,
    callback_requested: bool | None = None,
    owner: Annotated[
        str | None, Query(max_length=64, description='"me", "none" or a username')
    ] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    include: Annotated[
        list[QueueInclude] | None,
        Query(
            description="`person`: each row's `name` and `area` (roles that see the person; "
            "audited); `tier_reason`: why each case has its tier (roles with clinical sight); "
            "403 for a role that may not see it"
        ),
    ] = None,
) -> QueuePage:
    ctx = context_of(request)
    require(caller, program_id, Capability.VIEW_QUEUE)
    no_tier_filter_unless_seen(caller, program_id, tier)
    filters = filters_from(
        caller, tier, status, team, at_risk, missed, callback_requested, owner, ctx
    )
    if include:  # sealed data opened, so refused to a role that may not see it, and audited
        if "person" in include:
            require(caller, program_id, Capability.VIEW_PERSON)
        if "tier_reason" in include:
            require(caller, program_id, Capability.VIEW_CLINICAL)
        program = ctx.programs.get(program_id)
        return read_queue_people(
            ctx.store, ctx.cipher, program_id, filters, caller.principal, include=include,
            limit=limit, offset=offset, zone=program.timezone if program else "UTC",
            now=ctx.clock(),
        )  # fmt: skip
    with ctx.store.engine.connect() as conn:
        page = queue_page(conn, program_id, filters, limit=limit, offset=offset, now=ctx.clock())
    return redact(page, caller.principal, program_id)


@router.get(
    "/cases/{case_id}",
    response_model=CaseDetail,
    response_model_exclude_none=False,
    summary="One case as your role may see it (audited)",
)
def get_case(case_id: str, request: Request, response: Response, caller: ApiCaller) -> CaseDetail:
    ctx = context_of(request)
    detail = read_views.read_case(ctx.store, ctx.cipher, case_id, caller.principal, ctx.clock())
    if detail is None:
        raise HTTPException(status_code=404, detail=f"no case {case_id!r}")
    response.headers["ETag"] = etag(detail.version)
    return with_provider_names(detail, ctx.programs)


@router.put(
    "/cases/{case_id}/owner",
    summary="Claim a case (no username) or assign it (coordinators)",
    responses={409: {"description": "owned by another member"}, 412: {"description": "changed"}},
)
def put_owner(
    case_id: str,
    change: OwnerChange,
    request: Request,
    response: Response,
    caller: ApiCaller,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    ctx = context_of(request)
    who = caller.principal
    storable_text("username", change.username)
    storable_text("team_id", change.team_id)
    if change.shift_start is not None:
        storable_time("shift_start", change.shift_start)
    assigning = change.username is not None and change.username != who.username
    program_id = case_program(
        ctx, caller, case_id, Capability.ASSIGN if assigning else Capability.CLAIM
    )
    owner_name = change.username or who.username
    if assigning:
        owner_id = call(ownership.member_who_can_own, ctx.store, owner_name, program_id)
    else:
        owner_id = who.user_id
    take_over = who.can(program_id, Capability.ASSIGN) and change.username is not None
    version = call(
        ownership.change_owner,
        ctx.store,
        case_id,
        owner_id=owner_id,
        owner_name=owner_name,
        team_id=change.team_id,
        shift_start=change.shift_start,
        take_over=take_over,
        expected_version=parse_if_match(if_match),
        acting_user_id=who.user_id,
        actor=who.actor,
        now=ctx.clock(),
    )
    response.headers["ETag"] = etag(version)
    return {"case_id": case_id, "owner": owner_name, "version": version}


@router.delete("/cases/{case_id}/owner", summary="Give a case back to the queue")
def delete_owner(
    case_id: str,
    request: Request,
    response: Response,
    caller: ApiCaller,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    ctx = context_of(request)
    who = caller.principal
    program_id = case_program(ctx, caller, case_id, Capability.CLAIM)
    version = call(
        ownership.change_owner,
        ctx.store,
        case_id,
        owner_id=None,
        owner_name=None,
        team_id=None,
        shift_start=None,
        take_over=who.can(program_id, Capability.ASSIGN),
        expected_version=parse_if_match(if_match),
        actor=who.actor,
        now=ctx.clock(),
        acting_user_id=who.user_id,
    )
    response.headers["ETag"] = etag(version)
    return {"case_id": case_id, "owner": None, "version": version}


@router.post("/cases/{case_id}/attempts", status_code=201, summary="Record one visit attempt")
def post_attempt(
    case_id: str,
    attempt: AttemptCreate,
    request: Request,
    caller: ApiCaller,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    ctx = context_of(request)
    program_id = case_program(ctx, caller, case_id, Capability.RECORD)
    if attempt.referral is not None:
        require(caller, program_id, Capability.VIEW_CLINICAL)
    now = ctx.clock()
    at = attempt.at or now
    if at.tzinfo is None:
        raise HTTPException(status_code=422, detail="`at` needs a UTC offset")
    record = record_visit(ctx, caller, program_id, case_id, attempt, at, parse_if_match(if_match))
    return {"case_id": case_id, "attempt_no": record.attempt_no, "closed": attempt.close}


@router.post("/cases/{case_id}/outcome", summary="Close a case with its outcome")
def post_outcome(
    case_id: str,
    outcome: OutcomeCreate,
    request: Request,
    caller: ApiCaller,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    ctx = context_of(request)
    program_id = case_program(ctx, caller, case_id, Capability.RECORD)
    if outcome.referral is not None:
        require(caller, program_id, Capability.VIEW_CLINICAL)
    program = ctx.programs.get(program_id)
    call(
        visits.record_outcome,
        ctx.store,
        case_id,
        outcome=outcome.outcome,
        referral=outcome.referral,
        actor=caller.principal.actor,
        now=ctx.clock(),
        tier_rules=program.tiers if program else visits.OtherHistoryTiers(),
        expected_version=parse_if_match(if_match),
    )
    return {"case_id": case_id, "status": "closed", "outcome": outcome.outcome.value}


@router.post(
    "/cases/{case_id}/possible-death",
    summary="Confirm a possible death (the person's open cases close as deceased) or dismiss it",
)
def post_possible_death(
    case_id: str, body: DeathDecision, request: Request, caller: ApiCaller
) -> dict[str, Any]:
    ctx = context_of(request)
    program_id = case_program(ctx, caller, case_id, Capability.REVIEW)
    decide_death(ctx, caller, program_id, case_id, confirm=body.decision == "confirm")
    return {"case_id": case_id, "decision": body.decision}

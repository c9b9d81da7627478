"""The work-queue API: queue, case detail, owner, attempts and outcomes.

Versions: every case answer carries `ETag: "<version>"`; a change sent with
`If-Match` is refused with 412 when the case changed since. A claim on a case
someone else owns is 409; a coordinator's assignment may take it over."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response

from schemas.case_views import (
    AttemptCreate,
    CaseDetail,
    DeathDecision,
    OutcomeCreate,
    OwnerChange,
)
from schemas.cases import CaseStatus, QueuePage, Tier
from services.accounts.redaction import redact, sees_tier
from services.accounts.roles import Capability
from services.accounts.users import user_id_of
from services.api.auth import ApiCaller, Caller, context_of, require
from services.api.errors import http_error, storable_text, storable_time
from services.bootstrap import Context
from services.cases import deaths, ownership, visits
from services.store.queue_reads import QueueFilters, case_detail, program_of_case, queue_page

router = APIRouter(prefix="/api/v1", tags=["queue"])


def parse_if_match(value: str | None) -> int | None:
    if value is None or value.strip() == "*":
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise HTTPException(status_code=400, detail='If-Match must be a case version: "12"')
    return int(text)


def etag(version: int) -> str:
    return f'"{version}"'


def case_program(ctx: Context, caller: Caller, case_id: str, capability: Capability) -> str:
    """The case's program, after checking the caller may do this there (else 404/403)."""
    with ctx.store.engine.connect() as conn:
        program_id = program_of_case(conn, case_id)
    if program_id is None or caller.principal.role_in(program_id) is None:
        raise HTTPException(status_code=404, detail=f"no case {case_id!r}")
    require(caller, program_id, capability)
    return program_id


def no_tier_filter_unless_seen(caller: Caller, program_id: str, tier: object) -> None:
    """A role that sees no tiers may not filter by one: the filter would tell the tier."""
    if tier and not sees_tier(caller.principal, program_id):
        raise HTTPException(
            status_code=403,
            detail=f"your role in {program_id} does not see tiers, so may not filter by one",
        )


def filters_from(
    caller: Caller,
    tier: list[Tier] | None,
    status: str,
    team: str | None,
    at_risk: bool | None,
    missed: bool | None,
    callback_requested: bool | None,
    owner: str | None,
    ctx: Context,
) -> QueueFilters:
    owner_id: str | None = None
    if owner == "me":
        owner_id = caller.principal.user_id
    elif owner == "none":
        owner_id = ""
    elif owner:
        with ctx.store.engine.connect() as conn:
            owner_id = user_id_of(conn, owner) or "-unknown-"
    return QueueFilters(
        tiers=tuple(tier or ()),
        status=None if status == "all" else CaseStatus(status),
        team_id=team,
        at_risk=at_risk,
        missed=missed,
        callback_requested=callback_requested,
        owner_id=owner_id,
    )


@router.get(
    "/programs/{program_id}/queue",
    response_model=QueuePage,
    summary="Cases of one program in QRT priority order, filtered; ids only, no personal data",
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
) -> QueuePage:
    ctx = context_of(request)
    require(caller, program_id, Capability.VIEW_QUEUE)
    no_tier_filter_unless_seen(caller, program_id, tier)
    filters = filters_from(
        caller, tier, status, team, at_risk, missed, callback_requested, owner, ctx
    )
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
    with ctx.store.transaction() as conn:
        detail = case_detail(conn, ctx.cipher, case_id, caller.principal, ctx.clock())
    if detail is None:
        raise HTTPException(status_code=404, detail=f"no case {case_id!r}")
    response.headers["ETag"] = etag(detail.version)
    return detail


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
        owner_id = _call(ownership.member_who_can_own, ctx.store, owner_name, program_id)
    else:
        owner_id = who.user_id
    take_over = who.can(program_id, Capability.ASSIGN) and change.username is not None
    version = _call(
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
    version = _call(
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


def record_visit(
    ctx: Context,
    caller: Caller,
    program_id: str,
    case_id: str,
    attempt: AttemptCreate,
    at: datetime,
    expected_version: int | None,
) -> visits.AttemptRecorded:
    """An attempt, and when asked, the outcome that closes the case with its result."""
    who = caller.principal
    now = ctx.clock()
    storable_text("team_id", attempt.team_id)
    program = ctx.programs.get(program_id)
    teams = {t.id for t in program.teams} if program else set()
    if attempt.team_id is not None and attempt.team_id not in teams:
        raise HTTPException(
            status_code=422,
            detail=f"no team {attempt.team_id!r} in {program_id}; "
            f"teams: {', '.join(sorted(teams))}",
        )
    done = _call(
        visits.record_attempt,
        ctx.store,
        case_id,
        result=attempt.result,
        at=at,
        team_id=attempt.team_id,
        referral=attempt.referral,
        actor=who.actor,
        now=now,
        expected_version=expected_version,
    )
    if attempt.close:
        _call(
            visits.record_outcome,
            ctx.store,
            case_id,
            outcome=attempt.result,
            referral=attempt.referral,
            actor=who.actor,
            now=now,
            tier_rules=program.tiers if program else visits.OtherHistoryTiers(),
        )
    return done


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
    _call(
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


def decide_death(
    ctx: Context, caller: Caller, program_id: str, case_id: str, *, confirm: bool
) -> None:
    program = ctx.programs.get(program_id)
    minutes = program.matching.incident_merge_minutes if program else 0
    try:
        deaths.decide_possible_death(
            ctx.store, case_id, confirm=confirm, margin=timedelta(minutes=minutes),
            actor=caller.principal.actor, now=ctx.clock(),
        )  # fmt: skip
    except deaths.NotFlagged as exc:
        raise http_error(exc) from exc


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except visits.VisitRecordError as exc:
        raise http_error(exc) from exc

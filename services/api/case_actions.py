"""What the work-queue API and the pages both do with a request: check the caller and
the case, turn the request into a service call (services/cases/), and its refusals into
HTTP answers. Routes (case_routes.py) and pages (web/pages.py) import from here, never
from each other."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import HTTPException

from schemas.case_views import AttemptCreate
from schemas.cases import CaseStatus, Tier
from services.accounts.redaction import sees_tier
from services.accounts.roles import Capability
from services.api.auth import Caller, require
from services.api.errors import http_error, storable_text
from services.bootstrap import Context
from services.cases import deaths, visits
from services.store.queue_reads import QueueFilters, program_of_case
from services.store.user_reads import user_id_of


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


def visit_details(
    attempt: AttemptCreate, program_id: str, vocabulary: list[str]
) -> visits.VisitDetails:
    """The visit record beyond its result; needs and barriers must be the program's words."""
    unknown = sorted({w for w in [*attempt.needs, *attempt.barriers] if w not in vocabulary})
    if unknown:
        raise HTTPException(
            status_code=422,
            detail=f"not in {program_id}'s needs and barriers: {', '.join(unknown)}; "
            f"known: {', '.join(vocabulary)}",
        )
    if attempt.notes:
        storable_text("notes", attempt.notes)
    return visits.VisitDetails(
        method=attempt.method,
        people_met=tuple(attempt.people_met),
        notes=attempt.notes,
        needs=tuple(attempt.needs),
        barriers=tuple(attempt.barriers),
        services=tuple(attempt.services),
    )


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
    if attempt.notes or attempt.needs or attempt.barriers or attempt.services:
        require(caller, program_id, Capability.VIEW_CLINICAL)  # what they could not read back
    storable_text("team_id", attempt.team_id)
    program = ctx.programs.get(program_id)
    teams = {t.id for t in program.teams} if program else set()
    if attempt.team_id is not None and attempt.team_id not in teams:
        raise HTTPException(
            status_code=422,
            detail=f"no team {attempt.team_id!r} in {program_id}; "
            f"teams: {', '.join(sorted(teams))}",
        )
    details = visit_details(attempt, program_id, program.visits.needs if program else [])
    done = call(
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
        details=details,
        cipher=ctx.cipher,
        checkin_due=program.engaged.checkin_due if program else None,
        contact_id=attempt.contact_id,
    )
    if attempt.close:
        call(
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


def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """A visit service call, its refusal as an HTTP answer."""
    try:
        return fn(*args, **kwargs)
    except visits.VisitRecordError as exc:
        raise http_error(exc) from exc

"""`POST /api/v1/programs/{id}/referrals`: a referral from a member or a partner agency.

Authenticated by a partner's agency key (`qrt agency create`, the ingest gateway's keys;
the program must list the agency in `agency_ids`, else 403) or a member's bearer token
(or session with its CSRF token) whose role may record visits (else 403; a program
outside theirs 404). Only a role that sees clinical facts may write the notes (it could
not read them back otherwise). 202 with the referral id once the broker has it; a repeat
(the same `referral_id` from the same sender) answers 202 with `"duplicate": true`."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Request

from schemas.referral_event import ReferralAccepted, ReferralBody
from services.accounts.roles import Capability
from services.api.auth import api_caller, context_of, require
from services.api.limits import gateway_allowed
from services.api.referral_actions import accept_referral
from services.bootstrap import Context, Gateway
from services.ingest.referral_intake import Sender

router = APIRouter(prefix="/api/v1", tags=["referrals"])


def _key_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    return (
        auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-key")
    )


async def _partner(request: Request, ctx: Context, program_id: str) -> Sender | None:
    """The partner agency whose key this is (None: not an agency key), allowed to refer
    to the program."""
    key = _key_of(request)
    parts: Gateway = request.app.state.gateway
    keys = parts.keys
    known, agency = keys.cached(key)  # a key seen this minute: no thread, no store
    if not known:
        agency = await asyncio.to_thread(keys.agency_of, ctx.store, key)
    if agency is None:
        return None
    taken = await gateway_allowed(request, ctx, key)
    if taken.refused:
        raise HTTPException(
            status_code=429,
            detail=f"too many requests; send again in {taken.retry_after} s",
            headers={"Retry-After": taken.retry_after},
        )
    program = ctx.programs.get(program_id)
    if program is None:
        raise HTTPException(status_code=404, detail=f"no program {program_id!r}")
    if agency not in program.agency_ids:
        raise HTTPException(
            status_code=403,
            detail=f"agency {agency!r} is not a partner of program {program_id!r}",
        )
    return Sender(actor=f"agency:{agency}", agency_id=agency)


async def _sender(request: Request, ctx: Context, program_id: str, body: ReferralBody) -> Sender:
    partner = await _partner(request, ctx, program_id)
    if partner is not None:
        return partner
    caller = await api_caller(request)  # 401 without a member's token or session
    require(caller, program_id, Capability.RECORD)
    if body.notes and not caller.principal.can(program_id, Capability.VIEW_CLINICAL):
        raise HTTPException(
            status_code=403,
            detail=f"your role in {program_id} may not write a referral's notes",
        )
    return Sender(actor=caller.principal.actor)


@router.post(
    "/programs/{program_id}/referrals",
    status_code=202,
    response_model=ReferralAccepted,
    summary="Refer a person to the team: a member's token or a partner agency's key",
    responses={
        403: {"description": "a role that may not record, or an agency not the program's"},
        422: {"description": "refused, with the reason and each field's problem"},
        503: {"description": "the broker did not acknowledge: nothing accepted"},
    },
)
async def post_referral(program_id: str, body: ReferralBody, request: Request) -> ReferralAccepted:
    ctx = context_of(request)
    sender = await _sender(request, ctx, program_id, body)
    return await accept_referral(request, ctx, program_id, body, sender)

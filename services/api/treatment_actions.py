"""What the API and the case page both do with a referral to treatment: check the caller
(a member with clinical sight who may record) and the case or referral, call the use
case (services/cases/treatment.py) and turn its refusals into HTTP answers. A provider's
own key is checked here too (`provider_holder`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import HTTPException

from schemas.engagement_views import TreatmentState
from schemas.treatment import Provider
from services.accounts.roles import Capability
from services.api.auth import Caller, require
from services.api.case_actions import case_program
from services.api.errors import storable_time
from services.bootstrap import Context
from services.cases import treatment
from services.store.provider_keys import KeyHolder, holder_of


@dataclass(frozen=True)
class Referred:
    referral_id: str
    case_id: str
    provider: Provider
    at: datetime


def _answer(exc: treatment.TreatmentError) -> HTTPException:
    return HTTPException(status_code=exc.status, detail=str(exc))


def refer_case(ctx: Context, caller: Caller, case_id: str, provider_id: str) -> Referred:
    program_id = case_program(ctx, caller, case_id, Capability.RECORD)
    require(caller, program_id, Capability.VIEW_CLINICAL)
    now = ctx.clock()
    try:
        provider = treatment.provider_of(ctx.programs, program_id, provider_id)
        referral_id = treatment.refer(
            ctx.store, case_id, provider, actor=caller.principal.actor, now=now
        )
    except treatment.TreatmentError as exc:
        raise _answer(exc) from exc
    return Referred(referral_id, case_id, provider, now)


def staff_move(
    ctx: Context, caller: Caller, referral_id: str, to: TreatmentState, at: datetime | None
) -> tuple[str, bool]:
    """(the referral's case, whether it changed): staff set a referral's state."""
    found = treatment.program_of_referral(ctx.store, referral_id)
    if found is None or caller.principal.role_in(found[0]) is None:
        raise HTTPException(status_code=404, detail=f"no treatment referral {referral_id!r}")
    program_id, case_id = found
    require(caller, program_id, Capability.RECORD)
    require(caller, program_id, Capability.VIEW_CLINICAL)
    changed = move_as(ctx, referral_id, to, at, actor=caller.principal.actor)
    return case_id, changed


def move_as(
    ctx: Context, referral_id: str, to: TreatmentState, at: datetime | None, *,
    actor: str, holder: KeyHolder | None = None,
) -> bool:  # fmt: skip
    when = storable_time("at", at) if at is not None else None
    try:
        return treatment.move(
            ctx.store, referral_id, to, when, actor=actor, now=ctx.clock(), holder=holder
        )
    except treatment.TreatmentError as exc:
        raise _answer(exc) from exc


def provider_holder(ctx: Context, authorization: str | None) -> KeyHolder:
    """The provider a request's key speaks for: a valid, unrevoked key of a provider the
    program still lists; else 401."""
    key = None
    if authorization and authorization[:7].lower() == "bearer ":
        key = authorization[7:].strip()
    holder = holder_of(ctx.store, key)
    program = ctx.programs.get(holder.program_id) if holder else None
    if (
        holder is None
        or program is None
        or holder.provider_id not in {p.id for p in program.providers}
    ):
        raise HTTPException(
            status_code=401,
            detail="send a provider's key (qrt provider create-key): this one is unknown, "
            "revoked, or its provider is no longer listed",
            headers={"WWW-Authenticate": 'Bearer realm="providers"'},
        )
    return holder

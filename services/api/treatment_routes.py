"""Referrals to treatment that is confirmed.

Staff (a member with clinical sight who may record) refer a case's client to one of the
program's providers and set a referral's state; a provider, with its own key (`qrt
provider create-key`), lists the referrals made to it (the minimum necessary: the
referral, its state and dates, the client's first name and date of birth) and moves
them on. A referral of another provider does not exist for it (404). Moves allowed:
services/core/treatment.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request

from schemas.engagement_views import TreatmentState
from schemas.treatment import ProviderReferralPage, TreatmentReferralCreate, TreatmentStatusChange
from services.api.auth import ApiCaller, context_of
from services.api.treatment_actions import move_as, provider_holder, refer_case, staff_move
from services.cases import treatment
from services.store.provider_keys import KeyHolder

router = APIRouter(prefix="/api/v1", tags=["treatment"])
REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such referral (for a provider: none made to it)"},
    409: {"description": "a move the referral's state does not allow, with the reason"},
}


def _provider(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <provider key>")] = None,
) -> KeyHolder:
    return provider_holder(context_of(request), authorization)


ProviderKey = Annotated[KeyHolder, Depends(_provider)]


@router.post(
    "/cases/{case_id}/treatment-referrals",
    status_code=201,
    summary="Refer the case's client to one of the program's treatment providers",
    responses={409: {"description": "already referred there, still under way"}},
)
def post_treatment_referral(
    case_id: str, body: TreatmentReferralCreate, request: Request, caller: ApiCaller
) -> dict[str, Any]:
    done = refer_case(context_of(request), caller, case_id, body.provider_id)
    return {
        "id": done.referral_id,
        "case_id": case_id,
        "provider_id": done.provider.id,
        "kind": done.provider.kind.value,
        "state": TreatmentState.REFERRED.value,
        "referred_at": done.at.isoformat(),
    }


@router.put(
    "/treatment-referrals/{referral_id}/status",
    summary="Staff set a treatment referral's state (forward moves only)",
    responses=REFUSALS,
)
def put_treatment_status(
    referral_id: str, body: TreatmentStatusChange, request: Request, caller: ApiCaller
) -> dict[str, Any]:
    case_id, changed = staff_move(context_of(request), caller, referral_id, body.state, body.at)
    return {"id": referral_id, "case_id": case_id, "state": body.state.value, "changed": changed}


@router.get(
    "/treatment-referrals",
    response_model=ProviderReferralPage,
    summary="A provider's referrals, with its key: the minimum necessary (audited)",
    responses={401: {"description": "not a valid provider key"}},
)
def get_provider_referrals(
    request: Request,
    holder: ProviderKey,
    state: TreatmentState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ProviderReferralPage:
    ctx = context_of(request)
    return treatment.provider_referrals(
        ctx.store, ctx.cipher, holder, state=state, limit=limit, offset=offset, now=ctx.clock()
    )


@router.post(
    "/treatment-referrals/{referral_id}/status",
    summary="A provider, with its key, reports a referral's state (forward moves only)",
    responses={**REFUSALS, 401: {"description": "not a valid provider key"}},
)
def post_provider_status(
    referral_id: str, body: TreatmentStatusChange, request: Request, holder: ProviderKey
) -> dict[str, Any]:
    changed = move_as(
        context_of(request), referral_id, body.state, body.at, actor=holder.actor, holder=holder
    )
    return {"id": referral_id, "state": body.state.value, "changed": changed}

"""The case page's referrals to treatment (templates/treatment.html): refer the client to
one of the program's providers, and move a referral on (the moves allowed:
services/core/treatment.py). Forms post with the session's CSRF token; every change goes
through the same actions as the API (services/api/treatment_actions.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from schemas.case_views import CaseDetail
from schemas.engagement_views import TreatmentState
from services.accounts.roles import Capability
from services.api.auth import Caller, PageCaller, context_of
from services.api.treatment_actions import refer_case, staff_move
from services.api.web.labels import words
from services.bootstrap import Context
from services.cases import treatment
from services.core.treatment import NEXT

router = APIRouter(include_in_schema=False)


def treatment_values(ctx: Context, caller: Caller, detail: CaseDetail) -> dict[str, Any]:
    """What templates/treatment.html needs beyond the case: the referrals with their
    providers' names, the program's providers and the moves each referral allows."""
    who = caller.principal
    program = ctx.programs.get(detail.program_id)
    can_refer = who.can(detail.program_id, Capability.RECORD) and who.can(
        detail.program_id, Capability.VIEW_CLINICAL
    )
    return {
        "treatment_shown": treatment.with_provider_names(detail, ctx.programs).treatment,
        "treatment_providers": program.providers if program and can_refer else [],
        "treatment_next": {
            t.id: [s.value for s in NEXT[t.state]] for t in detail.treatment if t.state
        },
        "can_refer": can_refer,
    }


def _back(case_id: str, error: str | None = None, message: str | None = None) -> Response:
    said = {k: v for k, v in (("error", error), ("message", message)) if v}
    query = f"?{urlencode(said)}" if said else ""
    return RedirectResponse(f"/cases/{case_id}{query}#treatment", status_code=303)


@router.post("/cases/{case_id}/treatment-referrals")
def refer(
    case_id: str,
    request: Request,
    caller: PageCaller,
    provider_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    if not provider_id:
        return _back(case_id, "choose a provider")
    try:
        done = refer_case(context_of(request), caller, case_id, provider_id)
    except HTTPException as exc:
        if exc.status_code in (403, 404):
            raise
        return _back(case_id, str(exc.detail))
    return _back(case_id, message=f"Referred to {done.provider.name}.")


def _form_time(text: str, zone: str) -> datetime | None:
    """The form's local time (in the program's zone) as an aware time; empty: now."""
    if not text:
        return None
    local = datetime.fromisoformat(text)
    return local if local.tzinfo is not None else local.replace(tzinfo=ZoneInfo(zone))


@router.post("/treatment-referrals/{referral_id}/status")
def set_status(
    referral_id: str,
    request: Request,
    caller: PageCaller,
    state: Annotated[str, Form(max_length=16)] = "",
    at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    ctx = context_of(request)
    found = treatment.program_of_referral(ctx.store, referral_id)
    if found is None or caller.principal.role_in(found[0]) is None:
        raise HTTPException(status_code=404, detail=f"no treatment referral {referral_id!r}")
    program_id, case_id = found
    program = ctx.programs.get(program_id)
    try:
        to = TreatmentState(state)
        when = _form_time(at, program.timezone if program else "UTC")
    except ValueError:
        return _back(case_id, "choose the new state and a date")
    try:
        changed = staff_move(ctx, caller, referral_id, to, when)[1]
    except HTTPException as exc:
        if exc.status_code in (403, 404):
            raise
        return _back(case_id, str(exc.detail))
    said = f"Treatment: {words(to.value)}." if changed else f"Already {words(to.value)}."
    return _back(case_id, message=said)

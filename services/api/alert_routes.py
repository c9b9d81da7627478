"""Spike alerts of a program (services/spikes): the list and one alert. An alert names
a program, an area, a window, counts and a rule, never a person: every role that may
read the program's queue may read them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from schemas.spikes import SpikeAlert
from services.accounts.roles import Capability
from services.api.auth import ApiCaller, context_of, require
from services.spikes.alert_reads import get_alert, list_alerts

router = APIRouter(prefix="/api/v1", tags=["spike alerts"])
AlertId = Annotated[str, Path(max_length=36, pattern=r"^[0-9a-f-]{36}$")]


class AlertList(BaseModel):
    program_id: str
    alerts: list[SpikeAlert]


@router.get(
    "/programs/{program_id}/alerts",
    response_model=AlertList,
    summary="The program's spike alerts: open ones first, then ended, newest first",
)
async def get_alerts(
    program_id: str,
    request: Request,
    caller: ApiCaller,
    state: Annotated[Literal["open", "all"], Query()] = "all",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlertList:
    require(caller, program_id, Capability.VIEW_QUEUE)
    store = context_of(request).store
    found = await run_in_threadpool(
        lambda: list_alerts(store, program_id, open_only=state == "open", limit=limit)
    )
    return AlertList(program_id=program_id, alerts=found)


@router.get(
    "/programs/{program_id}/alerts/{alert_id}",
    response_model=SpikeAlert,
    summary="One spike alert",
    responses={404: {"description": "No such alert in this program"}},
)
async def get_one_alert(
    program_id: str, alert_id: AlertId, request: Request, caller: ApiCaller
) -> SpikeAlert:
    require(caller, program_id, Capability.VIEW_QUEUE)
    store = context_of(request).store
    found = await run_in_threadpool(get_alert, store, program_id, alert_id)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no alert {alert_id} in {program_id}")
    return found

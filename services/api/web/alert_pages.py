"""Spike alert pages: the banner of the queue page (fetched again by qrt.js on each
`alerts` event of the live stream), the program's alerts, and one alert with its
counts per hour and its map (services/spikes/area_map.py). Every role that reads the
queue sees alerts; the map's points only roles that see persons (a place can be a
home), rounded to about 100 m even then."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from services.accounts.roles import Capability
from services.api.auth import PageCaller, context_of
from services.api.web.pages import page_common, page_program
from services.api.web.render import page
from services.bootstrap import Context
from services.programs import Program
from services.spikes.alert_reads import area_detail, get_alert, list_alerts
from services.spikes.alert_rows import AREA_WORDS
from services.spikes.area_map import BoundaryError, Ring, draw, rings_of

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)


def _values(request: Request, caller: PageCaller, program_id: str) -> dict[str, Any]:
    ctx = context_of(request)
    program = page_program(ctx, caller, program_id)
    return {**page_common(ctx, caller), "program_id": program_id, "program": program,
            "zone": program.timezone, "area_words": AREA_WORDS}  # fmt: skip


@router.get("/programs/{program_id}/alerts/banner", response_class=HTMLResponse)
def alerts_banner(program_id: str, request: Request, caller: PageCaller) -> Response:
    values = _values(request, caller, program_id)
    alerts = list_alerts(context_of(request).store, program_id, open_only=True)
    return page(request, "alerts_banner.html", alerts=alerts, **values)


@router.get("/programs/{program_id}/alerts", response_class=HTMLResponse)
def alerts_view(program_id: str, request: Request, caller: PageCaller) -> Response:
    values = _values(request, caller, program_id)
    alerts = list_alerts(context_of(request).store, program_id, limit=200)
    return page(request, "alerts.html", alerts=alerts, **values)


@router.get("/programs/{program_id}/alerts/{alert_id}", response_class=HTMLResponse)
def alert_view(program_id: str, alert_id: str, request: Request, caller: PageCaller) -> Response:
    values = _values(request, caller, program_id)
    ctx = context_of(request)
    alert = get_alert(ctx.store, program_id, alert_id[:36])
    if alert is None:
        raise HTTPException(status_code=404, detail=f"no alert {alert_id[:36]!r} in {program_id}")
    detail = area_detail(ctx.store, ctx.cipher, alert)
    sees_places = caller.principal.can(program_id, Capability.VIEW_PERSON)
    boundary, boundary_problem = _boundary(ctx, values["program"])
    area = f"{AREA_WORDS.get(alert.area_kind, alert.area_kind)} {alert.area}"
    svg = draw(detail.places, boundary, title=f"Overdoses in {area}") if sees_places else None
    return page(request, "alert.html", alert=alert, detail=detail, svg=svg, area=area,
                boundary_problem=boundary_problem, **values)  # fmt: skip


def _boundary(ctx: Context, program: Program) -> tuple[list[Ring], str | None]:
    name = program.spikes.boundary_file
    if not name:
        return [], None
    path = Path(name)
    if not path.is_absolute() and ctx.settings.programs_file is not None:
        path = ctx.settings.programs_file.parent / path
    try:
        return rings_of(json.loads(path.read_text(encoding="utf-8"))), None
    except (OSError, ValueError, BoundaryError) as exc:
        log.warning("boundary file of %s not drawn: %s", program.id, type(exc).__name__)
        return [], f"the program's boundary file could not be drawn ({type(exc).__name__})"

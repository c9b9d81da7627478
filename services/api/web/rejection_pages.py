"""The feed-problems page of a program: the records its agencies sent that could not be
used (kept from overdose.rejected.v1 by the case worker), for coordinators and admins.

The counts of the last 24 h per agency and reason come first, then the records, newest
first, with their time in the program's zone. An admin of every program also sees the
records traced to no program (an agency no program lists). Never the original bytes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.accounts.roles import Capability
from services.api.auth import PageCaller, context_of, require
from services.api.web.render import page
from services.ingest.rejections import parse_since, program_scope
from services.store.rejection_records import rejection_list

router = APIRouter(include_in_schema=False)
SINCE = {"24h": "24 hours", "7d": "7 days", "30d": "30 days"}
SHOWN = 200


@router.get("/programs/{program_id}/rejections", response_class=HTMLResponse)
def rejections_view(
    program_id: str,
    request: Request,
    caller: PageCaller,
    since: Annotated[str, Query(max_length=8)] = "24h",
) -> Response:
    ctx = context_of(request)
    require(caller, program_id, Capability.REVIEW)
    program = ctx.programs.get(program_id)
    if program is None:
        raise HTTPException(status_code=404, detail=f"no program {program_id!r}")
    if since not in SINCE:
        since = "24h"
    now = ctx.clock()
    with ctx.store.engine.connect() as conn:
        found = rejection_list(
            conn, program_scope(caller.principal, program_id),
            since=parse_since(since, now), now=now, limit=SHOWN,
        )  # fmt: skip
    return page(
        request, "rejections.html", who=caller.principal, csrf=caller.csrf_token,
        programs=caller.principal.programs(ctx.programs.ids), now=now,
        program_id=program_id, program_name=program.name, zone=program.timezone,
        found=found, since=since, choices=SINCE,
        counted=sum(c.count for c in found.counts),
    )  # fmt: skip

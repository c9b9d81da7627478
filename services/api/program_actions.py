"""What the per-program API and the pages both do: the shift plan's bounds, the review
queue and its decisions, the CSV download. Routes (program_routes.py) and pages
(web/pages.py) import from here, never from each other."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Response

from schemas.case_views import ReviewView
from schemas.cases import ShiftPlan
from services.accounts.roles import Capability
from services.api.auth import Caller, require
from services.api.errors import http_error, storable_time
from services.bootstrap import Context
from services.cases import read_views, reviews


def attachment(filename: str) -> str:
    """A Content-Disposition for a download (RFC 6266): a plain ASCII name, and the
    exact name percent-encoded (RFC 8187) for clients that read `filename*`."""
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in filename)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def plans_for(
    ctx: Context, program_id: str, team: str | None, start: datetime | None, days: float
) -> list[ShiftPlan]:
    """The shift plans from `start` (default: 24 h ago) for `days`."""
    begin = storable_time("start", start or ctx.clock() - timedelta(hours=24))
    try:
        end = begin + timedelta(days=days)
    except OverflowError:
        raise HTTPException(status_code=422, detail="`start` + `days` is out of range") from None
    return read_views.shift_plans_between(ctx.store, program_id, team, begin, end, ctx.clock())


def open_review_views(ctx: Context, caller: Caller, program_id: str) -> list[ReviewView]:
    """The open reviews with both persons opened for the decision (audited)."""
    return read_views.open_review_views(
        ctx.store, ctx.cipher, program_id, caller.principal, ctx.clock()
    )


REVIEW_ID_MAX = 2**31 - 1  # an INTEGER column: a larger id exists nowhere


def decide_review(ctx: Context, caller: Caller, review_id: int, decision: str) -> str:
    if not 1 <= review_id <= REVIEW_ID_MAX:
        raise HTTPException(status_code=404, detail=f"no review {review_id}")
    program_id = reviews.program_of_review(ctx.store, review_id)
    if program_id is None or caller.principal.role_in(program_id) is None:
        raise HTTPException(status_code=404, detail=f"no review {review_id}")
    require(caller, program_id, Capability.REVIEW)
    program = ctx.programs.get(program_id)
    if program is None:
        raise HTTPException(status_code=409, detail=f"program {program_id} is not configured")
    try:
        if decision == "link":
            reviews.link_review(
                ctx.store, review_id, actor=caller.principal.actor, now=ctx.clock(),
                program=program,
            )  # fmt: skip
        else:
            reviews.keep_apart(ctx.store, review_id, actor=caller.principal.actor, now=ctx.clock())
    except reviews.ReviewError as exc:
        raise http_error(exc) from exc
    return program_id


def export_response(ctx: Context, caller: Caller, program_id: str, status: str) -> Any:
    require(caller, program_id, Capability.EXPORT)

    body = read_views.export_text(
        ctx.store, ctx.cipher, program_id, caller.principal, ctx.clock(), status
    )
    stamp = ctx.clock().strftime("%Y%m%dT%H%MZ")
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": attachment(f"{program_id}-cases-{stamp}.csv"),
            "Cache-Control": "no-store",
        },
    )

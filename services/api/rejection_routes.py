"""Feed problems: the records agencies sent that could not be used, as kept from
overdose.rejected.v1 (workers/rejections.py), for coordinators and admins.

A user sees the rejections of the programs where they may review (coordinator,
admin); those traced to no program only an admin of every program. Outreach, law
enforcement and program managers get 403; a program outside the caller's programs 404.
The list never carries the original bytes; an admin of every program may read them,
one rejection at a time, and each read is audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from services.accounts.roles import Capability
from services.api.auth import ApiCaller, Caller, context_of, require
from services.bootstrap import Context
from services.ingest.rejections import (
    RejectionList,
    RejectionScope,
    parse_since,
    scope_of,
    sees_everything,
)
from services.store.rejection_records import read_original, rejection_list

router = APIRouter(prefix="/api/v1", tags=["feed problems"])


def _scope(ctx: Context, caller: Caller, program: str | None) -> RejectionScope:
    if program is not None:
        require(caller, program, Capability.REVIEW)
        return RejectionScope(programs=(program,))
    scope = scope_of(caller.principal, ctx.programs.ids)
    if scope is None:
        raise HTTPException(
            status_code=403,
            detail="your role may not see rejected records: coordinators and admins may",
        )
    return scope


@router.get(
    "/rejections",
    response_model=RejectionList,
    summary="Rejected feed records, newest first, with counts per agency and reason (24 h)",
)
def get_rejections(
    request: Request,
    caller: ApiCaller,
    since: Annotated[
        str, Query(max_length=64, description="24h, 7d, 90m or an ISO time with a UTC offset")
    ] = "24h",
    program: Annotated[str | None, Query(max_length=64)] = None,
    agency: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RejectionList:
    ctx = context_of(request)
    program, agency = program or None, agency or None  # `?program=&agency=`: every one
    scope = _scope(ctx, caller, program)
    now = ctx.clock()
    try:
        start = parse_since(since.strip() or "24h", now)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    with ctx.store.engine.connect() as conn:
        return rejection_list(conn, scope, since=start, now=now, agency=agency, limit=limit)


@router.get(
    "/rejections/{rejection_id}/original",
    summary="The original bytes of one rejected record (admins of every program; audited)",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def get_original(
    rejection_id: Annotated[int, Path(ge=1, le=2**31 - 1)], request: Request, caller: ApiCaller
) -> Response:
    ctx = context_of(request)
    if not sees_everything(caller.principal):
        raise HTTPException(
            status_code=403, detail="only an admin of every program may read original records"
        )
    original = read_original(
        ctx.store, ctx.cipher, rejection_id, caller.principal.actor, ctx.clock()
    )
    if original is None:
        raise HTTPException(status_code=404, detail=f"no rejection {rejection_id}")
    return Response(
        original,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="rejection-{rejection_id}.bin"'},
    )

"""Live updates: server-sent events of a program's case changes.

Read from the case-event outbox in the store (`case_events.seq`), so a browser
that reconnects with `Last-Event-ID` misses nothing. Case events carry no
personal data; what a role may not see (outcome and referral detail) is cut."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from services.accounts.roles import Capability, Principal
from services.api.auth import ApiCaller, context_of, require
from services.store.queue_reads import redacted_result
from services.store.repository import Store
from services.store.tables import case_events

router = APIRouter(prefix="/api/v1", tags=["queue"])
BATCH = 200
KEEPALIVE_S = 15.0


def latest_seq(store: Store, program_id: str) -> int:
    with store.engine.connect() as conn:
        value = conn.execute(
            select(func.max(case_events.c.seq)).where(case_events.c.program_id == program_id)
        ).scalar_one()
    return int(value or 0)


def changes_after(store: Store, program_id: str, seq: int) -> list[tuple[int, dict[str, Any]]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(case_events.c.seq, case_events.c.payload)
            .where(case_events.c.program_id == program_id, case_events.c.seq > seq)
            .order_by(case_events.c.seq)
            .limit(BATCH)
        ).all()
    return [(r.seq, json.loads(r.payload)) for r in rows]


def visible(payload: dict[str, Any], who: Principal, program_id: str) -> dict[str, Any]:
    if who.can(program_id, Capability.VIEW_CLINICAL):
        return payload
    detail = {k: v for k, v in payload.get("detail", {}).items() if k != "referral"}
    for key in ("outcome", "result"):
        if key in detail:
            detail[key] = redacted_result(detail[key])
    return {**payload, "detail": detail}


async def stream(
    request: Request, who: Principal, program_id: str, after: int | None
) -> AsyncIterator[str]:
    ctx = context_of(request)
    seq = after if after is not None else await run_in_threadpool(latest_seq, ctx.store, program_id)
    yield f"retry: 3000\nid: {seq}\nevent: hello\ndata: {{}}\n\n"
    idle = 0.0
    poll = ctx.settings.live_poll_seconds
    while not await request.is_disconnected():
        found = await run_in_threadpool(changes_after, ctx.store, program_id, seq)
        for seq, payload in found:
            data = json.dumps({**visible(payload, who, program_id), "seq": seq})
            yield f"id: {seq}\nevent: case\ndata: {data}\n\n"
        if found:
            idle = 0.0
            continue
        await asyncio.sleep(poll)
        idle += poll
        if idle >= KEEPALIVE_S:
            idle = 0.0
            yield ": keep-alive\n\n"


@router.get(
    "/programs/{program_id}/live",
    summary="Server-sent events: one `case` event per change to a case of the program",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def get_live(
    program_id: str,
    request: Request,
    caller: ApiCaller,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    require(caller, program_id, Capability.VIEW_QUEUE)
    after = (
        int(last_event_id)
        if last_event_id
        and last_event_id.isascii()
        and last_event_id.isdigit()
        and len(last_event_id) <= 18
        else None
    )
    return StreamingResponse(
        stream(request, caller.principal, program_id, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )

"""Live updates: server-sent events of a program's case changes.

An `alerts` event carries the program's open spike alerts (services/spikes) when the
stream opens and whenever one is raised, grows or ends; alerts name no person.
Case changes are read from the case-event outbox in the store (`case_events.seq`), so a browser
that reconnects with `Last-Event-ID` misses nothing. Case events carry no
personal data; what a role may not see (outcome and referral detail) is cut. The
caller's credential and role are checked again every RECHECK_S and before each
event goes out: a stream closes once its user is disabled, signed out, changes
password, loses the role, or its token is revoked."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from services.accounts.redaction import redact
from services.accounts.roles import Capability, Principal
from services.api.auth import ApiCaller, context_of, current_principal, require
from services.spikes.alert_reads import alerts_mark, list_alerts
from services.store.case_event_reads import changes_after, latest_seq

router = APIRouter(prefix="/api/v1", tags=["queue"])
KEEPALIVE_S = 15.0
RECHECK_S = 3.0  # how often an open stream checks its caller again (and before each event)


def visible(payload: dict[str, Any], who: Principal, program_id: str) -> dict[str, Any]:
    return redact(payload, who, program_id)


async def stream(
    request: Request, who: Principal, program_id: str, after: int | None
) -> AsyncIterator[str]:
    ctx = context_of(request)
    seq = after if after is not None else await run_in_threadpool(latest_seq, ctx.store, program_id)
    yield f"retry: 3000\nid: {seq}\nevent: hello\ndata: {{}}\n\n"
    idle = 0.0
    poll = ctx.settings.live_poll_seconds
    checked = time.monotonic()
    mark: tuple[int, int] | None = None
    while not await request.is_disconnected():
        now_mark = await run_in_threadpool(alerts_mark, ctx.store, program_id)
        if now_mark != mark:  # raised, grown or ended: the open ones, whole
            who_now = await allowed(request, program_id)
            if who_now is None:
                return  # as before a case event: the caller may still read the queue
            who, checked, mark = who_now, time.monotonic(), now_mark
            yield await _alerts_event(ctx.store, program_id)
        if time.monotonic() - checked >= RECHECK_S:
            who_now = await allowed(request, program_id)
            if who_now is None:
                return  # signed out, disabled, token revoked, or no longer a member
            who, checked = who_now, time.monotonic()
        found = await run_in_threadpool(changes_after, ctx.store, program_id, seq)
        if found:  # the caller and their role are checked again before anything goes out
            who_now = await allowed(request, program_id)
            if who_now is None:
                return
            who, checked = who_now, time.monotonic()
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


async def _alerts_event(store: Any, program_id: str) -> str:
    found = await run_in_threadpool(lambda: list_alerts(store, program_id, open_only=True))
    data = json.dumps({"open": [a.model_dump(mode="json") for a in found]})
    return f"event: alerts\ndata: {data}\n\n"


async def allowed(request: Request, program_id: str) -> Principal | None:
    """The caller as they stand now, if they may still read this program's queue."""
    who = await current_principal(request)
    return who if who is not None and who.can(program_id, Capability.VIEW_QUEUE) else None


@router.get(
    "/programs/{program_id}/live",
    summary="Server-sent events: one `case` event per change to a case of the program, "
    "and `alerts` with the open spike alerts whenever they change",
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

"""`POST /api/v1/events` (one OverdoseEvent or a batch) and `POST /api/v1/events/nemsis`.

Authenticated by a per-agency API key (`Authorization: Bearer KEY` or
`X-API-Key: KEY`): 401 without a valid one, 403 for an event (or a NEMSIS file)
of another agency. 202 only after the broker acknowledged (acks=all); 422 with
field-level errors (nothing of the batch is published); 413 over the size
limit; 503 when the broker did not acknowledge (nothing accepted: retry). The
same event again answers 202 with `"duplicate": true`."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.api.limits import gateway_allowed
from services.bootstrap import Context, Gateway
from services.ingest import gateway, inbox
from services.ingest.gateway_publisher import BrokerErrors, GatewayPublisher
from services.ingest.nemsis import ForeignAgency, NemsisRefused
from services.ingest.nemsis_batch import Checked, collect_nemsis
from services.runtime.metrics import GATEWAY_REQUESTS
from services.runtime.retry import describe
from services.runtime.run_files import NoBrokerConfigured

log = logging.getLogger(__name__)
router = APIRouter(tags=["ingest"])
MAX_BATCH = 500


def _error(status: int, detail: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse({"detail": detail, **extra}, status_code=status, headers=headers)


def _gateway(request: Request) -> Gateway:
    parts: Gateway = request.app.state.gateway  # built by bootstrap, one set per app
    return parts


async def _agency(request: Request, ctx: Context) -> str | None:
    key = _key_of(request)
    keys = _gateway(request).keys
    known, agency = keys.cached(key)  # a key seen this minute: no thread, no store
    return agency if known else await asyncio.to_thread(keys.agency_of, ctx.store, key)


async def _duplicates(request: Request, ctx: Context, events: list[Any]) -> set[Any]:
    recent = _gateway(request).recent
    stored = await asyncio.to_thread(gateway.in_store, ctx.store, events)
    return stored | {gateway.key_of(e) for e in events if gateway.key_of(e) in recent}


async def _body(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def _publish(request: Request, events: list[Any]) -> JSONResponse | None:
    """None when the broker acknowledged every event, else the 503 to answer."""
    if not events:
        return None
    ctx: Context = request.app.state.ctx
    if ctx.settings.gateway_inbox:
        try:
            await asyncio.to_thread(inbox.keep, ctx.store, ctx.cipher, events, ctx.clock())
        except Exception as exc:
            log.warning("gateway: the inbox could not keep the events (%s)", describe(exc))
            return _error(
                503,
                "the events could not be kept: nothing was accepted; send the same events "
                "again later",
            )
    try:
        publisher = publisher_of(request.app.state)
        await publisher.publish(events, timeout_s=ctx.settings.gateway_ack_seconds)
    except (*BrokerErrors, NoBrokerConfigured) as exc:
        log.warning("gateway: broker did not acknowledge (%s)", type(exc).__name__)
        return _error(
            503,
            "the broker did not acknowledge every event: nothing was accepted; send the same "
            "events again later (any that did arrive are recognised as duplicates)",
        )
    recent = _gateway(request).recent
    recent.add([gateway.key_of(e) for e in events])
    return None


def publisher_of(app_state: Any) -> GatewayPublisher:
    parts: Gateway = app_state.gateway
    return parts.publisher()


async def relay_inbox(app_state: Any) -> None:
    """On the embedded default: publish again what was accepted and not stored yet,
    everything at start, then rows older than inbox.RESEND_AFTER every RELAY_EVERY_S."""
    ctx: Context = app_state.ctx
    first = True
    while True:
        try:
            again = await asyncio.to_thread(
                inbox.to_resend, ctx.store, ctx.cipher, ctx.clock(), all_of_them=first
            )
            if again:
                await publisher_of(app_state).publish(again, ctx.settings.gateway_ack_seconds)
                log.info("gateway inbox: published %d accepted event(s) again", len(again))
            first = False
        except Exception as exc:  # tried again at the next round; never fatal
            log.warning("gateway inbox: could not publish again (%s)", describe(exc))
        await asyncio.sleep(inbox.RELAY_EVERY_S if not first else 1.0)


async def close_publisher(state: Any) -> None:
    """On shutdown: the producer flushes and closes its connections."""
    parts: Gateway = state.gateway
    await parts.close()


def _counted(answer: JSONResponse) -> JSONResponse:
    GATEWAY_REQUESTS.labels(status=str(answer.status_code)).inc()
    return answer


@router.post("/api/v1/events", status_code=202, summary="Publish one OverdoseEvent or a batch")
async def post_events(request: Request) -> JSONResponse:
    return _counted(await _post_events(request))


def _key_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    return (
        auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-key")
    )


async def _limited(request: Request, ctx: Context) -> JSONResponse | None:
    taken = await gateway_allowed(request, ctx, _key_of(request))
    if not taken.refused:
        return None
    answer = _error(429, f"too many requests; send again in {taken.retry_after} s")
    answer.headers["Retry-After"] = taken.retry_after
    return answer


async def _post_events(request: Request) -> JSONResponse:
    ctx: Context = request.app.state.ctx
    if (limited := await _limited(request, ctx)) is not None:
        return limited
    agency = await _agency(request, ctx)
    if agency is None:
        return _error(401, "a valid agency API key is required (Authorization: Bearer KEY)")
    body = await _body(request, ctx.settings.gateway_max_batch_bytes)
    if body is None:
        return _error(413, f"the body is over {ctx.settings.gateway_max_batch_bytes:,} bytes")
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _error(422, f"the body is not valid UTF-8 JSON: {exc}")
    single = not isinstance(parsed, list)
    items = [parsed] if single else parsed
    if single and len(body) > ctx.settings.max_event_bytes:
        return _error(413, f"one event may be at most {ctx.settings.max_event_bytes:,} bytes")
    if not items or len(items) > MAX_BATCH:
        return _error(422, f"a batch holds 1 to {MAX_BATCH} events")
    now = ctx.clock()
    screened = gateway.screen_items(items, agency, ctx.programs, ctx.rules, now)
    if screened.refused:
        return _error(
            422, "no event was accepted: fix these and send again", events=screened.refused
        )
    if screened.foreign:
        return _error(
            403, f"this key publishes only as agency {agency!r}", indexes=screened.foreign
        )
    seen = await _duplicates(request, ctx, screened.events)
    results, fresh = [], []
    for event in screened.events:
        key = (event.source.value, event.agency_id, event.event_id)
        results.append({"event_id": event.event_id, "duplicate": key in seen})
        if key not in seen:
            seen.add(key)
            fresh.append(event)
    failed = await _publish(request, fresh)
    if failed is not None:
        return failed
    return JSONResponse(results[0] if single else {"events": results}, status_code=202)


@router.post(
    "/api/v1/events/nemsis", status_code=202, summary="Publish a NEMSIS v3.5 EMSDataSet (XML)"
)
async def post_nemsis(request: Request) -> JSONResponse:
    return _counted(await _post_nemsis(request))


async def _post_nemsis(request: Request) -> JSONResponse:
    ctx: Context = request.app.state.ctx
    if (limited := await _limited(request, ctx)) is not None:
        return limited
    agency = await _agency(request, ctx)
    if agency is None:
        return _error(401, "a valid agency API key is required (Authorization: Bearer KEY)")
    limit = ctx.settings.gateway_max_nemsis_bytes
    body = await _body(request, limit)
    if body is None:
        return _error(413, f"the file is over {limit:,} bytes")
    try:
        summary, ready = await asyncio.to_thread(
            collect_nemsis, io.BytesIO(body), ctx.programs, own_agency=agency, max_bytes=limit,
            max_elements=ctx.settings.nemsis_max_elements_per_report,
        )  # fmt: skip
    except ForeignAgency as exc:
        return _error(403, str(exc))
    except NemsisRefused as exc:
        return _error(422, f"the file was refused: {exc}; nothing was published")
    del body  # the file is read: only its encoded events are kept
    published = await _publish_checked(request, ctx, ready)
    if isinstance(published, JSONResponse):
        return published
    return JSONResponse(
        {
            "reports": summary.reports,
            "overdoses": dict(summary.overdoses),
            "published": published,
            "duplicates": len(ready) - published,
            "skipped": dict(summary.skipped),
            "rejected": [{"report": r, "reason": why} for r, why in summary.rejected],
        },
        status_code=202,
    )


async def _publish_checked(
    request: Request, ctx: Context, ready: list[Checked]
) -> int | JSONResponse:
    """A file's encoded events, MAX_BATCH at a time (as model objects only then): how
    many were new, or the 503 to answer (the parts before it stay published; the same
    file again publishes only the rest)."""
    published = 0
    for start in range(0, len(ready), MAX_BATCH):
        events = [c.event() for c in ready[start : start + MAX_BATCH]]
        seen = await _duplicates(request, ctx, events)
        fresh = [e for e in events if gateway.key_of(e) not in seen]
        failed = await _publish(request, fresh)
        if failed is not None:
            return failed
        published += len(fresh)
    return published

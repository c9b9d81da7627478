"""For operators: `GET /healthz` (the process is alive), `GET /readyz` (the store answers
with a current schema, and the broker answers), `GET /metrics` (Prometheus text format:
this process's counters and the whole system's state, services/runtime/system_state.py).
No personal data: counts, ages and reasons only."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from services.bootstrap import Context
from services.runtime.run_files import NoBrokerConfigured, bootstrap_servers
from services.runtime.system_state import SystemCollector, read_broker, store_ready

router = APIRouter(tags=["ops"])


def healthz() -> dict[str, str]:
    return {"status": "ok"}


def servers_of(ctx: Context) -> str | None:
    try:
        return bootstrap_servers(ctx.settings)
    except NoBrokerConfigured:
        return None


def system_registry(ctx: Context) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SystemCollector(ctx.store, ctx.settings, lambda: servers_of(ctx), ctx.clock))
    return registry


router.add_api_route("/healthz", healthz, methods=["GET"], summary="The process is alive")


@router.get("/readyz", summary="Ready: the store (schema current) and the broker answer")
async def readyz(request: Request) -> JSONResponse:
    ctx: Context = request.app.state.ctx
    checks: dict[str, Any] = {}
    problem = await asyncio.to_thread(store_ready, ctx.store)
    checks["store"] = problem or "ok"
    servers = servers_of(ctx)
    if servers is None:
        checks["broker"] = "no broker configured"
    else:
        broker = await asyncio.to_thread(read_broker, ctx.settings, servers)
        checks["broker"] = "ok" if broker.reachable else broker.problem
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503
    )


@router.get("/metrics", summary="Prometheus metrics of this process and of the system")
async def metrics(request: Request) -> Response:
    app_state = request.app.state
    if getattr(app_state, "system_registry", None) is None:
        app_state.system_registry = system_registry(app_state.ctx)
    body = await asyncio.to_thread(
        lambda: generate_latest(REGISTRY) + generate_latest(app_state.system_registry)
    )
    return Response(body, media_type=CONTENT_TYPE_LATEST)

"""FastAPI application factory: `create_app(settings)`; nothing is built at import time."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request

from schemas.cases import QueueItem
from services.api.ingest_routes import router as ingest_router
from services.api.twilio_webhooks import router as twilio_router
from services.bootstrap import Context, bootstrap
from services.settings import Settings


def get_context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


ContextDep = Annotated[Context, Depends(get_context)]


def queue(
    program_id: str,
    ctx: ContextDep,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[QueueItem]:
    if ctx.programs.get(program_id) is None:
        raise HTTPException(status_code=404, detail=f"no program {program_id!r}")
    return ctx.store.queue(program_id, limit=limit)


def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(settings: Settings, *, ctx: Context | None = None) -> FastAPI:
    app = FastAPI(
        title="QRT follow-up orchestrator",
        version="0.1.0",
        description="Work queues of Quick Response Teams following up on overdoses.",
    )
    app.state.ctx = ctx or bootstrap(settings)
    _ = app.state.ctx.store  # opened now: a schema out of date stops the API at start
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["ops"])
    app.add_api_route(
        "/api/v1/programs/{program_id}/queue",
        queue,
        methods=["GET"],
        response_model=list[QueueItem],
        tags=["queue"],
        summary="Open follow-up cases of one program, in QRT priority order",
    )
    app.include_router(twilio_router)
    app.include_router(ingest_router)
    return app

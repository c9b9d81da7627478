"""FastAPI application factory: `create_app(settings)`; nothing is built at import time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from services.api.account_routes import router as account_router
from services.api.alert_routes import router as alert_router
from services.api.auth import LoginRequired
from services.api.case_routes import router as case_router
from services.api.contact_routes import router as contact_router
from services.api.docs_routes import add_docs
from services.api.engagement_routes import router as engagement_router
from services.api.ingest_routes import close_publisher, relay_inbox
from services.api.ingest_routes import router as ingest_router
from services.api.json_guard import JsonDepthGuard
from services.api.live import router as live_router
from services.api.nul_guard import NulGuard
from services.api.ops_routes import router as ops_router
from services.api.person_routes import router as person_router
from services.api.program_routes import router as program_router
from services.api.referral_routes import router as referral_router
from services.api.rejection_routes import router as rejection_router
from services.api.report_routes import router as report_router
from services.api.security_headers import SecurityHeaders
from services.api.treatment_routes import router as treatment_router
from services.api.twilio_webhooks import router as twilio_router
from services.api.web.alert_pages import router as alert_pages_router
from services.api.web.case_pages import router as case_pages_router
from services.api.web.contact_pages import router as contact_pages_router
from services.api.web.engagement_pages import router as engagement_pages_router
from services.api.web.error_pages import add_error_pages
from services.api.web.pages import router as pages_router
from services.api.web.person_pages import router as person_pages_router
from services.api.web.plan_pages import router as plan_pages_router
from services.api.web.queue_pages import router as queue_pages_router
from services.api.web.referral_pages import router as referral_pages_router
from services.api.web.rejection_pages import router as rejection_pages_router
from services.api.web.render import STATIC_DIR
from services.api.web.report_pages import router as report_pages_router
from services.api.web.treatment_pages import router as treatment_pages_router
from services.bootstrap import Context, bootstrap
from services.settings import Settings


async def _to_login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(exc.location, status_code=303)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    relay = None
    if app.state.ctx.settings.gateway_inbox:
        relay = asyncio.create_task(relay_inbox(app.state))
    yield
    if relay is not None:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
    await close_publisher(app.state)


def create_app(settings: Settings, *, ctx: Context | None = None) -> FastAPI:
    app = FastAPI(
        title="QRT follow-up orchestrator",
        version="0.1.0",
        lifespan=_lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # services/api/docs_routes.py serves both, as QRT_API_DOCS says
        description=(
            "Work queues of Quick Response Teams following up on overdoses. Sign in with "
            "`POST /api/v1/tokens` and send `Authorization: Bearer <token>`."
        ),
    )
    app.state.ctx = ctx or bootstrap(settings)
    app.state.gateway = app.state.ctx.gateway()
    _ = app.state.ctx.store  # opened now: a schema out of date stops the API at start
    app.add_exception_handler(LoginRequired, _to_login)
    add_error_pages(app)  # pages' addresses answer errors with a page; /api/ keeps JSON
    for router in (
        ops_router,
        account_router,
        case_router,
        contact_router,
        person_router,
        program_router,
        rejection_router,
        alert_router,
        report_router,
        live_router,
        ingest_router,
        twilio_router,
        pages_router,
        alert_pages_router,
        queue_pages_router,
        plan_pages_router,
        rejection_pages_router,
        case_pages_router,
        contact_pages_router,
        person_pages_router,
        referral_router,
        referral_pages_router,
        engagement_router,
        engagement_pages_router,
        treatment_router,
        treatment_pages_router,
        report_pages_router,
    ):
        app.include_router(router)
    app.add_middleware(NulGuard)
    app.add_middleware(JsonDepthGuard)
    app.add_middleware(SecurityHeaders, production=settings.environment == "production")
    add_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app

"""The API's documentation: `/docs` (Swagger UI 5, every asset served by the API itself,
under the pages' Content-Security-Policy) and `/openapi.json`. `QRT_API_DOCS`: `open`
(the development default), `staff` (the production default: signed-in members only,
a bearer token or a page session) or `off`. There is no `/redoc`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from services.api.auth import current_principal
from services.api.web.render import SECURITY_HEADERS, page

# Swagger UI 5 (it reads OpenAPI 3.1, which FastAPI writes), as the fastapi-offline
# package ships it; only its files are used
SWAGGER_UI = Path(fastapi_offline.__file__).parent / "static"
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def docs_mode(app: FastAPI) -> str:
    settings = app.state.ctx.settings
    if settings.api_docs is not None:
        return str(settings.api_docs)
    return "staff" if settings.environment == "production" else "open"


async def may_read_docs(request: Request) -> None:
    mode = docs_mode(request.app)
    if mode == "off":
        raise HTTPException(status_code=404, detail="Not Found")
    if mode == "staff" and await current_principal(request) is None:
        raise HTTPException(status_code=401, detail="sign in to read the API's documentation")


def add_docs(app: FastAPI) -> None:
    app.mount("/docs/assets", StaticFiles(directory=SWAGGER_UI))

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(may_read_docs)])
    def docs(request: Request) -> Response:
        response: HTMLResponse = page(request, "docs.html")
        response.headers["Content-Security-Policy"] = DOCS_CSP
        return response

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(may_read_docs)])
    def openapi() -> JSONResponse:
        document: dict[str, Any] = app.openapi()
        return JSONResponse(document, headers={"Cache-Control": SECURITY_HEADERS["Cache-Control"]})

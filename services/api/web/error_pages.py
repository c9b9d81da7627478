"""Readable error pages: a browser asking for a page address (anything but the API's
and the machines') that fails with 404, 403, 409, 422 and the like gets a page in
words, under the pages' own CSP; `/api/...`, the Twilio webhooks, health, metrics and
the OpenAPI document, and any client that does not ask for HTML, keep FastAPI's JSON
answers. `add_error_pages(app)` registers both handlers."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.api.auth import SESSION_COOKIE
from services.api.web.labels import words
from services.api.web.render import page

MACHINE_PREFIXES = ("/api/", "/twilio/", "/static/", "/docs/assets/")
MACHINE_PATHS = frozenset({"/api", "/healthz", "/readyz", "/metrics", "/openapi.json"})

TITLES = {
    400: "This request could not be handled",
    401: "Sign in first",
    403: "Not allowed",
    404: "Not found",
    405: "Not available this way",
    409: "This cannot be done now",
    412: "Changed since you opened it",
    413: "Too large",
    415: "Not something this page takes",
    422: "Something sent is not right",
    429: "Too many tries",
}
HINTS = {
    401: "Your session may have ended. Sign in again, then retry.",
    403: "Your role does not allow this here. If you signed in a while ago, sign in again "
    "and retry.",
    404: "There is no page at this address: it may be mistyped.",
    405: "Use the links and buttons of the pages rather than typing this address.",
    409: "Someone else may have changed it first. Open it again to see where it stands now.",
    412: "Someone else changed it first. Open it again to see where it stands now.",
    422: "Go back, check what you entered and send it again.",
    429: "Wait a minute, then try again.",
}
NOT_FOUND_HINTS = {  # by the first part of the address
    "cases": "The address may be mistyped, the case may have been merged into another one, "
    "or it belongs to a program you are not a member of.",
    "persons": "The address may be mistyped, or the person is known only to a program you "
    "are not a member of.",
    "programs": "The address may be mistyped, or the program is not one of yours.",
}
PHRASES = {s.value: s.phrase for s in HTTPStatus}
DEFAULT_HINT = "Go back and try again, or start again from your work queue."


def _hint(status: int, path: str) -> str:
    if status == 404:
        first = path.strip("/").split("/", 1)[0]
        return NOT_FOUND_HINTS.get(first, HINTS[404])
    return HINTS.get(status, DEFAULT_HINT)


def is_page_request(request: Request) -> bool:
    """Whether a person's browser asked for a page: a page address, and an answer in
    HTML accepted (as browsers say when they navigate); a program asking for the same
    address with `Accept: */*` or JSON keeps the JSON answer it always had."""
    path = request.url.path
    if path in MACHINE_PATHS or path.startswith(MACHINE_PREFIXES):
        return False
    accept = request.headers.get("accept", "").lower()
    return "text/html" in accept or "application/xhtml+xml" in accept


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def error_page(
    request: Request, status: int, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    """The error as a page: what happened, in words, and where to go from here."""
    title = TITLES.get(status, "Something went wrong" if status >= 500 else TITLES[400])
    response = page(
        request, "error.html", status_code=status, title=title, status=status,
        detail=_sentence(detail), hint=_hint(status, request.url.path),
        signed_in=bool(request.cookies.get(SESSION_COOKIE)),
        next_path=request.url.path,
    )  # fmt: skip
    for name, value in (headers or {}).items():
        response.headers.setdefault(name, value)
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not is_page_request(request):
        return await http_exception_handler(request, exc)
    detail = exc.detail if isinstance(exc.detail, str) else ""
    if detail == PHRASES.get(exc.status_code):  # Starlette's own "Not Found": no news
        detail = ""
    return error_page(request, exc.status_code, detail, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if not is_page_request(request):
        return await request_validation_exception_handler(request, exc)
    errors: list[Any] = list(exc.errors())
    fields = sorted({str(e["loc"][-1]) for e in errors if e.get("loc")})
    detail = "missing or not valid: " + ", ".join(words(f) for f in fields) if fields else ""
    return error_page(request, 422, detail)


def add_error_pages(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

"""Jinja2 with autoescaping on, and the page helpers templates use."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.api.web.labels import actor_words, age_words, person_name, words
from services.api.web.links import geo_uri, place_words, tel_uri

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def local_time(value: datetime | None, zone: str = "UTC", fmt: str = "%a %d %b %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(zone)).strftime(fmt)


def due_in(value: datetime, now: datetime) -> str:
    """The countdown text the page shows before its script takes over."""
    seconds = int((value - now).total_seconds())
    if seconds <= 0:
        return "overdue"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60:02d} min"


_env.filters["local"] = local_time
_env.filters["words"] = words
_env.filters["actor"] = actor_words
_env.globals.update(geo_uri=geo_uri, tel_uri=tel_uri, place_words=place_words)
_env.globals.update(person_name=person_name, age_words=age_words)
_env.globals["due_in"] = due_in

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def page(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    html = _env.get_template(template).render(request=request, **values)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)

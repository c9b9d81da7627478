"""Refuse a NUL character (0x00) anywhere in a request's path or query string.

PostgreSQL text holds no NUL, so an id or filter carrying one would fail in the
database (a 500) wherever it reaches a query. One guard in front of every route
answers 422 instead, so no route has to remember. Bodies are checked where their
fields are stored (`errors.storable_text`).
"""

from __future__ import annotations

import json
from typing import Any

Scope = dict[str, Any]
Receive = Any
Send = Any

DETAIL = "the path and query string may not contain a NUL character (0x00)"


def carries_nul(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    return "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query


class NulGuard:
    """ASGI middleware: a request whose path or query string holds a NUL gets 422."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not carries_nul(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"detail": DETAIL}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 422, "headers": headers})
        await send({"type": "http.response.body", "body": body})

"""A JSON body nested deeper than MAX_DEPTH is refused with 422 before any route parses
it (Python's parser would raise RecursionError deep down, a 500). No request of ours
needs more than a handful of levels. The body is read once and handed on unchanged."""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_DEPTH = 32
_TOKENS = re.compile(rb'\\.|["\[\]{}]', re.S)  # an escape pair, a quote or a bracket


def depth_of(body: bytes, limit: int = MAX_DEPTH) -> int:
    """How deeply arrays and objects nest in a JSON text (stops counting past `limit`)."""
    depth = deepest = 0
    in_string = False
    for match in _TOKENS.finditer(body):
        token = match.group()
        if token[:1] == b"\\":
            continue
        if token == b'"':
            in_string = not in_string
        elif in_string:
            continue
        elif token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
        else:
            depth -= 1
    return deepest


class JsonDepthGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", [])) if scope["type"] == "http" else {}
        if b"json" not in headers.get(b"content-type", b""):
            await self.app(scope, receive, send)
            return
        chunks: list[Message] = []
        body = bytearray()
        while True:
            message = await receive()
            chunks.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if depth_of(bytes(body)) > MAX_DEPTH:
            answer = json.dumps(
                {"detail": f"the JSON body is nested deeper than {MAX_DEPTH} levels"}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 422,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(answer)).encode())],
                }
            )  # fmt: skip
            await send({"type": "http.response.body", "body": answer})
            return

        async def replay() -> Message:
            return chunks.pop(0) if chunks else await receive()

        await self.app(scope, replay, send)

"""One middleware sets the security headers of every response: JSON, pages, errors,
redirects and static files alike. Nothing the API answers may be cached (personal data
travels in most answers; static files are revalidated), framed, or sniffed as another
type; a response without its own Content-Security-Policy (everything but the pages)
gets one that allows nothing; in production, HSTS tells browsers to use https only."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"no-referrer",
    b"cross-origin-opener-policy": b"same-origin",
    b"cross-origin-resource-policy": b"same-origin",
    b"permissions-policy": b"camera=(), microphone=(), geolocation=()",
}
NOTHING_ALLOWED = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
HSTS = b"max-age=31536000; includeSubDomains"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, production: bool) -> None:
        self.app, self.production = app, production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                wanted = dict(ALWAYS)
                wanted[b"cache-control"] = b"no-cache" if static else b"no-store"
                wanted[b"content-security-policy"] = NOTHING_ALLOWED
                if self.production:
                    wanted[b"strict-transport-security"] = HSTS
                headers += [(k, v) for k, v in wanted.items() if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)

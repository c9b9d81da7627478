"""A local HTTP server that answers like Twilio's Messages API (the part we use).

`POST /2010-04-01/Accounts/{sid}/Messages.json` (form-encoded, HTTP Basic auth)
answers 201 with a message resource; `GET` of the same path lists messages,
newest first, filtered by To. Behaviours a test can script: numbers that answer
400 with a Twilio error code (21610, 21211, 21614), the next N requests
answering 429 (code 20429, Retry-After), 400 with 21611 (the sender's queue is
full, Retry-After) or 500, an outage (`down`: every request answers 503 until
it is over), Retry-After as any header value (an HTTP date, say), and a delay
after a message is recorded and before the answer (a client killed during it
has really sent it). Its Date header is its own clock's (`clock`, which a test
may inject). Wrong credentials answer 401 (change `auth_token` to revoke them).
Only Twilio's servers are faked; the client is the real twilio-python."""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests import wall_clock

PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC\w+)/Messages\.json$")


@dataclass
class Received:
    sid: str
    to: str
    sender: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None
    created: datetime
    arrived_monotonic: float
    form: dict[str, str]


@dataclass
class Script:
    refuse: dict[str, int] = field(default_factory=dict)  # To -> Twilio error code
    throttle_next: int = 0
    retry_after_s: float = 1.0
    fail_next: int = 0
    delay_s: float = 0.0
    down: bool = False  # every request answers 503 (an outage of Twilio)
    queue_full_next: int = 0  # POSTs answering 400, code 21611
    retry_after_header: str | None = None  # the Retry-After of 429/21611, as sent


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (killed mid-request, as a crash test does) is expected."""
        import sys

        if not isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            super().handle_error(request, client_address)


class FakeTwilio:
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.script = Script()
        self.clock: Callable[[], datetime] = wall_clock.now  # a test may inject its own
        self.messages: list[Received] = []
        self.requests: list[tuple[str, str, int]] = []  # method, path, answer status
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeTwilio:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def authorized(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}"

    def received_by(self, to: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if m.to == to]


def _resource(fake: FakeTwilio, m: Received, status: str = "queued") -> dict[str, Any]:
    return {
        "sid": m.sid,
        "account_sid": fake.account_sid,
        "to": m.to,
        "from": m.sender,
        "messaging_service_sid": m.messaging_service_sid,
        "body": m.body,
        "status": status,
        "num_segments": "1",
        "num_media": "0",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "price": None,
        "price_unit": "USD",
        "error_code": None,
        "error_message": None,
        "date_created": format_datetime(m.created),
        "date_updated": format_datetime(m.created),
        "date_sent": None,
        "uri": f"/2010-04-01/Accounts/{fake.account_sid}/Messages/{m.sid}.json",
        "subresource_uris": {},
    }


def _error(code: int, status: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _handler(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            return

        def date_time_string(self, timestamp: float | None = None) -> str:
            return format_datetime(fake.clock().astimezone(UTC), usegmt=True)  # the Date header

        def _answer(
            self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(payload).encode()
            with fake.lock:  # before the answer: a client that got it sees it counted
                fake.requests.append((self.command, urlparse(self.path).path, status))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _checked(self) -> bool:
            if fake.script.down:
                self._answer(503, _error(20503, 503, "Service Unavailable"))
                return False
            if not PATH.match(urlparse(self.path).path):
                self._answer(404, _error(20404, 404, "The requested resource was not found"))
                return False
            if not fake.authorized(self.headers.get("Authorization")):
                self._answer(401, _error(20003, 401, "Authenticate"))
                return False
            return True

        def do_GET(self) -> None:
            if not self._checked():
                return
            query = parse_qs(urlparse(self.path).query)
            to = query.get("To", [None])[0]
            with fake.lock:
                found = [m for m in fake.messages if to is None or m.to == to]
            found.sort(key=lambda m: m.arrived_monotonic, reverse=True)
            page_size = int(query.get("PageSize", ["50"])[0])
            self._answer(
                200,
                {
                    "messages": [_resource(fake, m, "sent") for m in found[:page_size]],
                    "page": 0,
                    "page_size": page_size,
                    "first_page_uri": self.path,
                    "next_page_uri": None,
                    "previous_page_uri": None,
                    "uri": self.path,
                    "start": 0,
                    "end": max(0, min(len(found), page_size) - 1),
                },
            )

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            if not self._checked():
                return
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            script = fake.script
            with fake.lock:
                if script.throttle_next > 0:
                    script.throttle_next -= 1
                    throttled = True
                else:
                    throttled = False
                queue_full = not throttled and script.queue_full_next > 0
                if queue_full:
                    script.queue_full_next -= 1
                failing = script.fail_next > 0
                if failing and not throttled and not queue_full:
                    script.fail_next -= 1
            retry_after = {"Retry-After": script.retry_after_header or f"{script.retry_after_s:g}"}
            if throttled:
                self._answer(429, _error(20429, 429, "Too Many Requests"), retry_after)
                return
            if queue_full:
                said = "This 'From' number has exceeded the maximum number of queued messages"
                self._answer(400, _error(21611, 400, said), retry_after)
                return
            if failing:
                self._answer(500, _error(20500, 500, "Internal Server Error"))
                return
            to = form.get("To", "")
            if to in script.refuse:
                code = script.refuse[to]
                self._answer(400, _error(code, 400, f"refused with {code}"))
                return
            if (
                not to
                or not form.get("Body")
                or not (form.get("From") or form.get("MessagingServiceSid"))
            ):
                self._answer(400, _error(21604, 400, "A 'To', 'Body' and sender are required"))
                return
            message = Received(
                sid="SM" + secrets.token_hex(16),
                to=to,
                sender=form.get("From"),
                messaging_service_sid=form.get("MessagingServiceSid"),
                body=form["Body"],
                status_callback=form.get("StatusCallback"),
                created=fake.clock().replace(microsecond=0),
                arrived_monotonic=time.monotonic(),
                form=form,
            )
            with fake.lock:
                fake.messages.append(message)
            if script.delay_s:
                time.sleep(script.delay_s)  # recorded first: the text has gone out
            self._answer(201, _resource(fake, message))

    return Handler

"""The Twilio sender: twilio-python's async client (aiohttp underneath).

`api_base_url` points the client's `api` domain elsewhere (a Twilio-compatible
gateway, or the local server the tests run): `Domain.base_url` is a public
attribute of twilio-python, so no part of the library is patched. Twilio's
errors become `SendRefused` (a 4xx about this text: never retried),
`SenderUnauthorized` (401: our credentials) or `SendRetryable` (429/20429, the
temporary 4xx in TEMPORARY_CODES such as 21611, 5xx, network faults, timeouts),
with Retry-After read from the response, in seconds or as an HTTP date (counted
from the response's own Date header, so a skewed clock of ours does not
matter): a small subclass of `AsyncTwilioHttpClient` keeps each call's response
headers in a context variable, so concurrent sends never see each other's.
Neither the number nor the text is ever logged: only sids and codes."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from services.sms.sender_types import SenderUnauthorized, SendRefused, SendRetryable, SentMessage

log = logging.getLogger(__name__)
RATE_LIMITED = 20429
# 4xx answers that say "not now", not "never": 21611, the sender's queue at Twilio holds
# more than it may (https://www.twilio.com/docs/api/errors/21611)
TEMPORARY_CODES = frozenset({21611})
_last_headers: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "twilio_last_headers", default=None
)


class _HeaderKeepingClient(AsyncTwilioHttpClient):
    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the signature of twilio-python)
        allow_redirects: bool = False,
    ) -> Response:
        if auth is not None:  # as a header: aiohttp deprecates its BasicAuth argument
            headers = {**(headers or {}), "Authorization": aiohttp.encode_basic_auth(*auth)}
        response: Response = await super().request(
            method, url, params, data, headers, None, timeout, allow_redirects
        )
        holder = _last_headers.get()
        if holder is not None:
            holder.clear()
            holder.update({k.lower(): v for k, v in (response.headers or {}).items()})
        return response


def _http_date(value: str | None) -> datetime | None:
    try:
        when = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        return None
    if when is not None and when.tzinfo is None:  # "-0000": UTC, origin unknown
        when = when.replace(tzinfo=UTC)
    return when


def retry_after_s(
    headers: dict[str, str], now: Callable[[], datetime] | None = None
) -> float | None:
    """Retry-After (lower-case header names) in seconds: a number of seconds, or an HTTP
    date counted from the answer's Date header (else from `now`). None when absent or
    unreadable."""
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
        return max(0.0, seconds) if math.isfinite(seconds) else None
    except ValueError:
        pass
    when = _http_date(value)
    base = _http_date(headers.get("date")) or (now() if now is not None else None)
    if when is None or base is None:
        return None
    return max(0.0, (when - base).total_seconds())


class TwilioSender:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        api_base_url: str | None = None,
        timeout_s: float = 10.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if bool(from_number) == bool(messaging_service_sid):
            raise ValueError("give exactly one of from_number and messaging_service_sid")
        self.from_number, self.messaging_service_sid = from_number, messaging_service_sid
        self.status_callback = status_callback
        self.timeout_s, self.clock = timeout_s, clock
        self._credentials = (account_sid, auth_token)
        self._api_base_url = api_base_url
        self._http: _HeaderKeepingClient | None = None
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        """Built on first use, inside the running event loop (aiohttp needs one)."""
        if self._client is None:
            self._http = _HeaderKeepingClient(timeout=self.timeout_s)
            self._client = Client(*self._credentials, http_client=self._http)
            if self._api_base_url:
                self._client.api.base_url = self._api_base_url.rstrip("/")
        return self._client

    async def send(self, to: str, body: str) -> SentMessage:
        options: dict[str, Any] = {"to": to, "body": body}
        if self.from_number:
            options["from_"] = self.from_number
        else:
            options["messaging_service_sid"] = self.messaging_service_sid
        if self.status_callback:
            options["status_callback"] = self.status_callback
        message = await self._call(self.client.messages.create_async(**options))
        log.info("text accepted by Twilio: %s (%s)", message.sid, message.status)
        return SentMessage(sid=str(message.sid), status=str(message.status))

    async def find_sent(
        self, to: str, body: str, since: datetime, until: datetime
    ) -> SentMessage | None:
        """The message to `to` with this exact body created in [since, until], if any.

        Not filtered by DateSent at Twilio: a message still queued there has no
        date_sent yet and must be found too. Twilio lists newest first; a client's
        number gets a handful of texts, so the newest 100 are plenty."""
        found = await self._call(self.client.messages.list_async(to=to, limit=100, page_size=100))
        for message in found:
            created = message.date_created or message.date_sent
            if message.body == body and (created is None or since <= created <= until):
                return SentMessage(sid=str(message.sid), status=str(message.status))
        return None

    async def _call(self, work: Any) -> Any:
        holder: dict[str, str] = {}
        token = _last_headers.set(holder)
        try:
            return await asyncio.wait_for(work, self.timeout_s + 1)
        except TwilioRestException as exc:
            raise _classified(exc, holder, self.clock) from None
        except aiohttp.ClientConnectorError as exc:  # no connection: nothing reached Twilio
            raise SendRetryable(
                None, None, f"network fault: {type(exc).__name__}", outage=True
            ) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:  # no answer: it may have
            raise SendRetryable(
                None, None, f"no answer: {type(exc).__name__}", maybe_sent=True
            ) from None
        finally:
            _last_headers.reset(token)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._http, self._client = None, None


_NUMBER = re.compile(r"\(?\+?\d[\d\s().-]{5,}\d")


def scrub_numbers(text: str) -> str:
    """Twilio's messages quote the number (21211: "The 'To' number +1304... is not valid");
    details are stored and announced, so any phone-like run of digits is masked."""
    return _NUMBER.sub("[number]", text)


def _classified(
    exc: TwilioRestException, headers: dict[str, str], now: Callable[[], datetime] | None
) -> Exception:
    status = int(exc.status)
    code = int(exc.code) if isinstance(exc.code, int) and exc.code != status else None
    detail = scrub_numbers(str(exc.msg))[:160]
    log.warning("Twilio answered %s (code %s)", status, code)
    if status == 401:
        return SenderUnauthorized(code, detail)
    if status == 429 or code == RATE_LIMITED or code in TEMPORARY_CODES:
        return SendRetryable(code, status, detail, retry_after_s(headers, now))
    if status >= 500:
        return SendRetryable(code, status, detail, retry_after_s(headers, now), outage=True)
    return SendRefused(code, status, detail)

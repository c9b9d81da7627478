"""What any sender returns or raises (Twilio's and the local outbox alike)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SentMessage:
    sid: str
    status: str


class SendRefused(Exception):
    """A definitive refusal (4xx): never retried."""

    def __init__(self, code: int | None, http_status: int, detail: str) -> None:
        super().__init__(f"refused ({http_status}, code {code}): {detail}")
        self.code, self.http_status, self.detail = code, http_status, detail


class SendRetryable(Exception):
    """Not now: 429/20429 or a temporary refusal such as 21611 (the sender's queue is
    full), 5xx or a network fault (`outage`: the sender is away), or a timeout. None of
    them is about the client: sending pauses as a whole and the text waits
    (services/sms/sender_pause.py).

    `maybe_sent`: the request may have reached the sender and the text gone out (no
    answer came: a timeout, a dropped connection). Such a text is not retried before
    the sender's message list has been checked (`Dispatcher.reconcile`)."""

    def __init__(
        self,
        code: int | None,
        http_status: int | None,
        detail: str,
        retry_after_s: float | None = None,
        *,
        maybe_sent: bool = False,
        outage: bool = False,
    ) -> None:
        super().__init__(f"retryable ({http_status}, code {code}): {detail}")
        self.code, self.http_status, self.detail = code, http_status, detail
        self.retry_after_s, self.maybe_sent, self.outage = retry_after_s, maybe_sent, outage


class SenderUnauthorized(SendRetryable):
    """401: the sender refuses our credentials. Nothing is sent until they work again:
    sending pauses (claimed texts released) and a probe tries again with backoff."""

    def __init__(self, code: int | None, detail: str) -> None:
        super().__init__(code, 401, detail)

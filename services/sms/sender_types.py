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
    """429/20429, 5xx, a network fault or a timeout: try again later.

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
    ) -> None:
        super().__init__(f"retryable ({http_status}, code {code}): {detail}")
        self.code, self.http_status, self.detail = code, http_status, detail
        self.retry_after_s, self.maybe_sent = retry_after_s, maybe_sent

"""The ports: what the use cases need from the world, as small Protocols. The real
adapters live by role (services/store, services/sms, services/ingest), a fake beside
each where tests need one; one contract test suite runs against the real and the fake
(tests/integration/test_outbox_contract.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.sms.sender_types import SentMessage

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class OutboxRecord:
    """A record written in the same transaction as the change it announces, waiting to be
    published: `topic` is the base name (the prefix is the publisher's)."""

    seq: int
    topic: str
    key: bytes
    value: bytes


class Outbox(Protocol):
    def pending(self, limit: int = 500) -> list[OutboxRecord]: ...

    def mark_published(self, seqs: Sequence[int], at: datetime) -> None: ...


# Publishing one record returns what to await for the broker's acknowledgement.
Publish = Callable[[OutboxRecord], Awaitable[Awaitable[Any]]]


class Cipher(Protocol):
    def seal(self, plaintext: str, aad: str) -> str: ...

    def open(self, sealed: str, aad: str) -> str: ...

    def blind(self, kind: str, value: str) -> str: ...


class TextSender(Protocol):
    """Twilio (services/sms/twilio_sender.py), or the local outbox file in development
    (services/sms/outbox_sender.py); chosen in services/bootstrap.py. `send` raises
    SendRefused or SendRetryable (services/sms/sender_types.py)."""

    async def send(self, to: str, body: str) -> SentMessage: ...

    async def find_sent(
        self, to: str, body: str, since: datetime, until: datetime
    ) -> SentMessage | None: ...

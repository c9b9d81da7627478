"""Text check-ins: the records on `sms.outbound.v1` and `sms.events.v1`.

No personal data crosses these topics: no phone number, no name, no message body
of a reply; ids, kinds, states, times and Twilio's codes only."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class TextState(StrEnum):
    """queued -> sending -> sent -> delivered | undelivered | failed; or cancelled
    (consent revoked, case closed, recipient deceased) before it was sent. A send that
    got no answer goes sending -> checking: looked up at the sender before any retry,
    then sent (found) or queued again."""

    QUEUED = "queued"
    SENDING = "sending"
    CHECKING = "checking"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ConsentSource(StrEnum):
    EVENT = "event"  # the overdose event's consent.sms
    VISIT = "visit"  # recorded by the team at a visit
    INBOUND_START = "inbound_start"  # the client texted START/UNSTOP/YES
    INBOUND_STOP = "inbound_stop"  # the client texted STOP (or a synonym)
    TWILIO_21610 = "twilio_21610"  # Twilio says the number unsubscribed
    COORDINATOR = "coordinator"
    OUTCOME = "outcome"  # an outcome that ends contact
    DECEASED = "deceased"  # a fatal report of the person: never a text for them again


class OutboundText(BaseModel):
    """`sms.outbound.v1`, keyed by program id: a text changed state."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = 1
    text_id: int
    program_id: str
    case_id: str | None
    kind: str
    state: TextState
    at: datetime
    due_at: datetime
    send_after: datetime
    twilio_sid: str | None = None
    error_code: int | None = None
    reason: str | None = None


class SmsEventKind(StrEnum):
    STATUS = "status"
    OPTED_OUT = "opted_out"
    OPTED_IN = "opted_in"
    HELP = "help"
    REPLY = "reply"


class SmsEvent(BaseModel):
    """`sms.events.v1`, keyed by program id (or "unknown"): what came back from Twilio."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = 1
    kind: SmsEventKind
    at: datetime
    message_sid: str
    program_id: str | None = None
    case_id: str | None = None
    text_id: int | None = None
    status: str | None = None
    error_code: int | None = None

"""Records the intake worker emits: accepted (routed) events and rejections."""

from __future__ import annotations

import base64
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.overdose_event import OverdoseEvent
from schemas.referral_event import ReferralEvent


class RejectReason(StrEnum):
    MALFORMED_JSON = "malformed_json"
    INVALID_EVENT = "invalid_event"
    OVERSIZE = "oversize"
    FUTURE_TIME = "occurred_in_future"
    UNROUTABLE = "unroutable"
    AMBIGUOUS_JURISDICTION = "ambiguous_jurisdiction"
    SOURCE_MISMATCH = "source_mismatch"
    STORE_REFUSED = "store_refused"  # valid JSON the store cannot keep (the case worker)


class FieldError(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str
    message: str
    type: str


class Origin(BaseModel):
    """Where a record was read from: enough to find the original message again."""

    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int
    key: str | None = None


class RejectedEvent(BaseModel):
    """What lands on `overdose.rejected.v1`: the reason, the errors, the original bytes."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = 1
    reason: RejectReason
    detail: str = Field(description="What is wrong and what the publisher can do about it")
    errors: list[FieldError] = Field(default_factory=list)
    origin: Origin
    rejected_at: datetime
    original_size: int
    original_b64: str = Field(description="The original message value, base64")

    def original(self) -> bytes:
        return base64.b64decode(self.original_b64)


class IntakeRecord(BaseModel):
    """What lands on `followup.intake.v1`, keyed by program id."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = 1
    program_id: str
    event: OverdoseEvent
    origin: Origin
    received_at: datetime
    # a referral: the event is its person and time (source `referral`); this, the rest
    referral: ReferralEvent | None = None

"""The one way a record becomes a dead letter (`overdose.rejected.v1`): the reason a
person can act on, the field errors, where it was read, and the original bytes."""

from __future__ import annotations

import base64
from datetime import datetime

from schemas.intake import FieldError, Origin, RejectedEvent, RejectReason


def dead_letter(
    raw: bytes,
    origin: Origin,
    now: datetime,
    reason: RejectReason,
    detail: str,
    errors: list[FieldError] | None = None,
) -> RejectedEvent:
    return RejectedEvent(
        reason=reason,
        detail=detail,
        errors=errors or [],
        origin=origin,
        rejected_at=now,
        original_size=len(raw),
        original_b64=base64.b64encode(raw).decode("ascii"),
    )

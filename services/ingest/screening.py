"""Screen one raw message: a routed `IntakeRecord` or a `RejectedEvent` with its reason.

Pure: no I/O, the clock is a parameter. Every way publisher bytes can be wrong
ends here as a rejection a person can act on; nothing raises.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError

from schemas.intake import FieldError, IntakeRecord, Origin, RejectedEvent, RejectReason
from schemas.overdose_event import OverdoseEvent, Source
from services.ingest.dead_letter import dead_letter
from services.programs import Programs
from services.triage.routing import Unroutable, route_event


@dataclass(frozen=True)
class ScreeningRules:
    max_bytes: int = 1024 * 1024
    future_tolerance: timedelta = timedelta(hours=1)


def _field_errors(exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(
            field=".".join(str(part) for part in err["loc"]) or "(event)",
            message=err["msg"],
            type=err["type"],
        )
        for err in exc.errors(include_url=False, include_input=False)
    ]


def expected_source(topic: str) -> Source | None:
    """Which source a topic carries, from its base name (`overdose.ems.v1` -> ems)."""
    for source in Source:
        if f"overdose.{source.value}." in topic:
            return source
    return None


def screen(
    raw: bytes,
    origin: Origin,
    *,
    programs: Programs,
    now: datetime,
    rules: ScreeningRules,
) -> IntakeRecord | RejectedEvent:
    decoded = _decode(raw, rules)
    refused = decoded if isinstance(decoded, _Refusal) else _check(decoded, origin, now, rules)
    if refused is not None:
        return dead_letter(raw, origin, now, refused.reason, refused.detail, refused.errors)
    assert isinstance(decoded, OverdoseEvent)
    event = decoded
    routed = route_event(event, programs)
    if isinstance(routed, Unroutable):
        return dead_letter(raw, origin, now, routed.reason, routed.detail)
    return IntakeRecord(program_id=routed.id, event=event, origin=origin, received_at=now)


@dataclass(frozen=True)
class _Refusal:
    reason: RejectReason
    detail: str
    errors: list[FieldError] | None = None


def _decode(raw: bytes, rules: ScreeningRules) -> OverdoseEvent | _Refusal:
    """The event the message holds, or why it holds none."""
    if len(raw) > rules.max_bytes:
        return _Refusal(
            RejectReason.OVERSIZE,
            f"message is {len(raw)} bytes; the limit is {rules.max_bytes}. "
            "Send one event per message without attachments",
        )
    try:
        return OverdoseEvent.model_validate_json(raw)
    except ValidationError as exc:
        if (malformed := not_json(raw)) is not None:
            return _Refusal(RejectReason.MALFORMED_JSON, malformed)
        errors = _field_errors(exc)
        fields = ", ".join(sorted({e.field for e in errors}))
        return _Refusal(
            RejectReason.INVALID_EVENT, f"{len(errors)} field error(s) in {fields}; see errors",
            errors,
        )  # fmt: skip


def not_json(raw: bytes) -> str | None:
    """Why a message that did not validate is not JSON at all, if it is not (asked only
    then: a valid event is parsed once, by its model)."""
    try:
        json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"message is not valid UTF-8 JSON ({exc}); send one JSON object per message"
    return None


def _check(
    event: OverdoseEvent, origin: Origin, now: datetime, rules: ScreeningRules
) -> _Refusal | None:
    """A valid event refused for its time or its topic."""
    if event.occurred_at > now + rules.future_tolerance:
        return _Refusal(
            RejectReason.FUTURE_TIME,
            f"occurred_at {event.occurred_at.isoformat()} is more than "
            f"{rules.future_tolerance} after the time of receipt {now.isoformat()}; "
            "check the clock and the UTC offset of the sending system",
            [FieldError(field="occurred_at", message="in the future", type="future")],
        )
    if event.source is Source.REFERRAL:  # a referral has its own contract and topic
        return _Refusal(
            RejectReason.SOURCE_MISMATCH,
            "source 'referral' is not an overdose report's: publish a ReferralEvent to "
            "referral.v1 (or POST /api/v1/programs/{id}/referrals); reports are ems or police",
            [FieldError(field="source", message="not an overdose source", type="mismatch")],
        )
    expected = expected_source(origin.topic)
    if expected is not None and event.source != expected:
        return _Refusal(
            RejectReason.SOURCE_MISMATCH,
            f"source is {event.source.value!r} but the event came on {origin.topic}; "
            f"publish {event.source.value} events to the overdose.{event.source.value} topic",
            [FieldError(field="source", message="does not match topic", type="mismatch")],
        )
    return None

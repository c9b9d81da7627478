"""Screen one raw referral (`referral.v1`): a routed `IntakeRecord` the case worker takes
like any other, or a `RejectedEvent` (`overdose.rejected.v1`) with its reason.

Pure: no I/O, the clock is a parameter; nothing raises. The record's event is the
referral as the case engine reads any report (source `referral`, its person as the
patient, its time as `occurred_at`, never fatal, no scene); the referral itself rides
along (`IntakeRecord.referral`) for what only it says: who referred, how urgent, notes.

Routing: a referral naming its program goes there (an agency sending it must be listed
by that program: its partner); one naming only a partner agency goes where that agency
is listed, else to the program of the person's county."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from schemas.cases import ReferralKind
from schemas.intake import FieldError, IntakeRecord, Origin, RejectedEvent, RejectReason
from schemas.overdose_event import Consent, OverdoseEvent, Patient, Source
from schemas.referral_event import ReferralEvent
from services.ingest.dead_letter import dead_letter
from services.ingest.screening import ScreeningRules, not_json
from services.programs import Program, Programs
from services.triage.routing import Unroutable, route_event

# a yes to texts from these is not the person's own: only their no is kept
THIRD_PARTIES = frozenset({ReferralKind.FAMILY, ReferralKind.FRIEND, ReferralKind.OTHER})


@dataclass(frozen=True)
class _Refusal:
    reason: RejectReason
    detail: str
    errors: list[FieldError] | None = None


def screen_referral(
    raw: bytes,
    origin: Origin,
    *,
    programs: Programs,
    now: datetime,
    rules: ScreeningRules,
) -> IntakeRecord | RejectedEvent:
    decoded = decode_referral(raw, rules)
    if isinstance(decoded, _Refusal):
        return dead_letter(raw, origin, now, decoded.reason, decoded.detail, decoded.errors)
    if decoded.referred_at > now + rules.future_tolerance:
        return dead_letter(
            raw, origin, now, RejectReason.FUTURE_TIME,
            f"referred_at {decoded.referred_at.isoformat()} is more than "
            f"{rules.future_tolerance} after the time of receipt {now.isoformat()}; "
            "check the clock and the UTC offset of the sending system",
            [FieldError(field="referred_at", message="in the future", type="future")],
        )  # fmt: skip
    event = as_report(decoded)
    routed = route_referral(decoded, event, programs)
    if isinstance(routed, Unroutable):
        return dead_letter(raw, origin, now, routed.reason, routed.detail)
    return IntakeRecord(
        program_id=routed.id, event=event, origin=origin, received_at=now, referral=decoded
    )


def decode_referral(raw: bytes, rules: ScreeningRules) -> ReferralEvent | _Refusal:
    """The referral the message holds, or why it holds none (the detail names each
    field's problem, so a person can act on it)."""
    if len(raw) > rules.max_bytes:
        return _Refusal(
            RejectReason.OVERSIZE,
            f"message is {len(raw)} bytes; the limit is {rules.max_bytes}. "
            "Send one referral per message",
        )
    try:
        return ReferralEvent.model_validate_json(raw)
    except ValidationError as exc:
        if (malformed := not_json(raw)) is not None:
            return _Refusal(RejectReason.MALFORMED_JSON, malformed)
        errors = [
            FieldError(
                field=".".join(str(part) for part in err["loc"]) or "(referral)",
                message=err["msg"].removeprefix("Value error, "),
                type=err["type"],
            )
            for err in exc.errors(include_url=False, include_input=False)
        ]
        said = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        return _Refusal(RejectReason.INVALID_EVENT, f"the referral was refused: {said}", errors)


def as_report(referral: ReferralEvent) -> OverdoseEvent:
    """The referral as the case engine reads a report: who (the patient), when, the
    person's own consent; no scene, never fatal, no clinical facts."""
    person = referral.person
    patient = Patient(
        first_name=person.first_name, last_name=person.last_name, dob=person.dob,
        sex=person.sex, phone=person.phone, language=person.language, address=person.address,
    )  # fmt: skip
    sms = referral.consent.sms
    if sms and referral.kind in THIRD_PARTIES:
        sms = None  # the person has not said yes themselves: texts wait for their own yes
    return OverdoseEvent(
        event_id=referral.referral_id,
        source=Source.REFERRAL,
        agency_id=referral.agency_id,
        occurred_at=referral.referred_at,
        patient=None if patient == Patient() else patient,
        fatal=False,
        consent=Consent(visit=referral.consent.visit, sms=sms),
    )


def route_referral(
    referral: ReferralEvent, event: OverdoseEvent, programs: Programs
) -> Program | Unroutable:
    if referral.program_id is None:
        return route_event(event, programs)
    program = programs.get(referral.program_id)
    if program is None:
        return Unroutable(
            RejectReason.UNROUTABLE,
            f"no program {referral.program_id!r}; programs: {', '.join(programs.ids)}",
        )
    if referral.agency_id not in (program.id, *program.agency_ids):
        return Unroutable(
            RejectReason.UNROUTABLE,
            f"agency {referral.agency_id!r} is not a partner of program {program.id!r}; "
            "list it in the program's agency_ids",
        )
    return program

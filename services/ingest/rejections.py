"""What a dead letter (`overdose.rejected.v1`) tells a coordinator, read without trust:
the reason, the field errors, where the record was read, which agency and source sent
it and which program it was meant for (when that is known), and the original bytes to
seal. Also who may see which rejections, and the views the API, pages and CLI share.

Pure: no I/O, the clock is a parameter. `letter_facts` never raises: a dead letter that
does not decode is still kept with what is known (its own place on the topic, its
bytes), under the reason `unreadable_dead_letter`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.accounts import ALL_PROGRAMS, Role
from schemas.intake import FieldError, RejectedEvent, RejectReason
from schemas.overdose_event import Source
from services.accounts.roles import Capability, Principal
from services.ingest.screening import expected_source
from services.programs import Programs

UNREADABLE = "unreadable_dead_letter"
KEPT_BYTES = 1024 * 1024  # the screening limit: an oversize original keeps its first MiB
COUNTED_HOURS = 24  # the counts at the top of the list: per agency and reason
MAX_ERRORS = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # PostgreSQL text holds no NUL
_SOURCES = {s.value for s in Source}

REASON_WORDS: dict[str, str] = {
    RejectReason.MALFORMED_JSON: "Not valid JSON",
    RejectReason.INVALID_EVENT: "Fields missing or invalid",
    RejectReason.OVERSIZE: "Too large",
    RejectReason.FUTURE_TIME: "Overdose time in the future",
    RejectReason.UNROUTABLE: "No program covers the agency or county",
    RejectReason.AMBIGUOUS_JURISDICTION: "Several programs cover the agency or county",
    RejectReason.SOURCE_MISMATCH: "Sent on the wrong topic",
    RejectReason.STORE_REFUSED: "The store refused a value",
    UNREADABLE: "The dead letter itself is unreadable",
}


def reason_words(reason: str) -> str:
    return REASON_WORDS.get(reason) or reason.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Letter:
    """One message read from overdose.rejected.v1, and where it was read."""

    value: bytes
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class RejectionFacts:
    """One row of `rejections`, before its key is blinded and its original sealed."""

    natural_key: str  # origin, reason and a digest of the original: the same letter twice
    reason: str
    detail: str
    errors: tuple[FieldError, ...]
    agency_id: str | None
    source: str | None
    program_id: str | None
    origin_topic: str | None
    origin_partition: int | None
    origin_offset: int | None
    rejected_at: datetime
    original_size: int
    original_b64: str  # the bytes kept (at most KEPT_BYTES), base64


def _text(value: object, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = _CONTROL.sub("\ufffd", value).strip()[:limit]
    return cleaned or None


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def program_for(agency_id: str | None, counties: list[str], programs: Programs) -> str | None:
    """The one program the agency (else the county) belongs to, as routing decides;
    None when none or several do."""
    if agency_id:
        by_agency = [p.id for p in programs.programs if agency_id in p.agency_ids]
        if by_agency:
            return by_agency[0] if len(by_agency) == 1 else None
    for county in counties:
        by_county = [p.id for p in programs.programs if county in p.county_fips]
        if by_county:
            return by_county[0] if len(by_county) == 1 else None
    return None


def _sender(original: bytes, origin_topic: str, programs: Programs) -> tuple[Any, Any, Any]:
    """(agency, source, program) as far as the original tells them: an overdose event, a
    referral or an intake record (what the case worker refuses) that names its program."""
    data = _json_object(original)
    intake = isinstance(data.get("event"), dict) and "program_id" in data
    event: dict[str, Any] = data["event"] if intake else data
    agency = _text(event.get("agency_id"), 64)
    source = event.get("source") if event.get("source") in _SOURCES else None
    if source is None:
        found = expected_source(origin_topic)
        source = found.value if found else None
    if source is None and "referral_id" in event:  # a referral, which may omit its source
        source = Source.REFERRAL.value
    named = data.get("program_id") if intake or source == Source.REFERRAL.value else None
    if isinstance(named, str) and programs.get(named) is not None:
        return agency, source, named
    patient = event.get("patient") or event.get("person")  # a referral's person
    places = [event.get("location"), patient.get("address") if isinstance(patient, dict) else None]
    counties = [
        p["county_fips"]
        for p in places
        if isinstance(p, dict) and isinstance(p.get("county_fips"), str)
    ]
    return agency, source, program_for(agency, counties, programs)


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _errors(errors: list[FieldError]) -> tuple[FieldError, ...]:
    return tuple(
        FieldError(
            field=_text(e.field, 200) or "(event)",
            message=_text(e.message, 500) or "",
            type=_text(e.type, 64) or "",
        )
        for e in errors[:MAX_ERRORS]
    )


def letter_facts(letter: Letter, programs: Programs, now: datetime) -> RejectionFacts:
    """What the letter tells; never raises."""
    try:
        record = RejectedEvent.model_validate_json(letter.value)
    except ValidationError as exc:
        errors = [
            FieldError(field=".".join(str(p) for p in e["loc"]) or "(letter)",
                       message=e["msg"], type=e["type"])
            for e in exc.errors(include_url=False, include_input=False)
        ]  # fmt: skip
        return _unreadable(letter, now, f"{exc.error_count()} error(s)", _errors(errors))
    try:
        original = base64.b64decode(record.original_b64, validate=True)
    except (binascii.Error, ValueError):
        return _unreadable(letter, now, "its original is not base64", ())
    origin = record.origin
    agency, source, program = _sender(original, origin.topic, programs)
    return RejectionFacts(
        natural_key=f"{origin.topic}|{origin.partition}|{origin.offset}|{record.reason.value}|"
        + _digest(original),
        reason=record.reason.value,
        detail=_text(record.detail, 2000) or "",
        errors=_errors(record.errors),
        agency_id=agency,
        source=source,
        program_id=program,
        origin_topic=_text(origin.topic, 255),
        origin_partition=origin.partition,
        origin_offset=origin.offset,
        rejected_at=_aware(record.rejected_at),
        original_size=len(original),
        original_b64=base64.b64encode(original[:KEPT_BYTES]).decode("ascii"),
    )


def _unreadable(
    letter: Letter, now: datetime, problems: str, errors: tuple[FieldError, ...]
) -> RejectionFacts:
    where = f"{letter.topic}[{letter.partition}]@{letter.offset}"
    return RejectionFacts(
        natural_key=f"letter|{letter.topic}|{letter.partition}|{letter.offset}|"
        + _digest(letter.value),
        reason=UNREADABLE,
        detail=f"the dead letter at {where} does not decode ({problems}); kept whole, "
        "as it came; its writer runs another version",
        errors=errors,
        agency_id=None,
        source=None,
        program_id=None,
        origin_topic=_text(letter.topic, 255),
        origin_partition=letter.partition,
        origin_offset=letter.offset,
        rejected_at=now,  # when it was found unreadable
        original_size=len(letter.value),
        original_b64=base64.b64encode(letter.value[:KEPT_BYTES]).decode("ascii"),
    )


# --- who sees what ----------------------------------------------------------------------


@dataclass(frozen=True)
class RejectionScope:
    """Rejections of these programs; `unrouted`: also those of no known program;
    `everything`: every row (an admin of every program, or the operator's CLI)."""

    programs: tuple[str, ...] = ()
    unrouted: bool = False
    everything: bool = False


def scope_of(who: Principal, known: list[str]) -> RejectionScope | None:
    """Coordinators see the rejections of the programs where they may review; admins of
    every program see them all, those traced to no program too. None: nothing at all."""
    if sees_everything(who):
        return RejectionScope(everything=True)
    programs = tuple(p for p in who.programs(known) if who.can(p, Capability.REVIEW))
    return RejectionScope(programs=programs) if programs else None


def sees_everything(who: Principal) -> bool:
    """An admin of every program: every rejection, the original bytes (audited) too."""
    return who.roles.get(ALL_PROGRAMS) is Role.ADMIN


def program_scope(who: Principal, program_id: str) -> RejectionScope:
    """The rejections a program's page lists: the program's own, and for an admin of
    every program those traced to no program too (an agency no program lists)."""
    return RejectionScope(programs=(program_id,), unrouted=sees_everything(who))


def parse_since(text: str, now: datetime) -> datetime:
    """`24h`, `7d`, `90m`, or an ISO-8601 time with a UTC offset."""
    found = re.fullmatch(r"\s*(\d{1,6}(?:\.\d+)?)\s*([mhd])\s*", text)
    if found:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[found.group(2)]
        try:
            return now - timedelta(**{unit: float(found.group(1))})
        except OverflowError as exc:
            raise ValueError(f"since {text!r} is outside the years 1 to 9999") from exc
    text = re.sub(r" (\d\d:?\d\d)$", r"+\1", text.strip())  # a "+" a URL turned into " "
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"since {text!r}: give 24h, 7d, 90m or an ISO time") from exc
    if value.tzinfo is None:
        raise ValueError(f"since {text!r} needs a UTC offset, e.g. 2026-11-22T08:00-05:00")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"since {text!r} is outside the years 1 to 9999") from exc


# --- views ------------------------------------------------------------------------------


class RejectionView(BaseModel):
    """A kept rejection as listed: never the original bytes."""

    model_config = ConfigDict(frozen=True)

    id: int
    reason: str
    reason_words: str
    detail: str
    errors: list[FieldError]
    agency_id: str | None
    source: str | None
    program_id: str | None
    origin_topic: str | None
    origin_partition: int | None
    origin_offset: int | None
    rejected_at: datetime
    stored_at: datetime
    original_size: int


class RejectionCount(BaseModel):
    model_config = ConfigDict(frozen=True)

    agency_id: str | None
    reason: str
    reason_words: str
    count: int


class RejectionList(BaseModel):
    """Newest first; `counts`: per agency and reason since `counted_since` (24 h)."""

    model_config = ConfigDict(frozen=True)

    since: datetime
    counted_since: datetime
    counts: list[RejectionCount]
    total: int
    items: list[RejectionView]

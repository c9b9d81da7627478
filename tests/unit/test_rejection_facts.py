"""What a dead letter tells (services/ingest/rejections.py), who sees which rejections,
and how `since` reads: pure, with the clock passed in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from schemas.accounts import ALL_PROGRAMS, Role
from schemas.codec import encode
from schemas.intake import Origin, RejectReason
from services.accounts.roles import Principal
from services.ingest.dead_letter import dead_letter
from services.ingest.rejections import (
    KEPT_BYTES,
    UNREADABLE,
    Letter,
    RejectionScope,
    letter_facts,
    parse_since,
    program_scope,
    reason_words,
    scope_of,
)
from services.programs import load_programs

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
PROGRAMS = load_programs(None)  # example: agencies EX-EMS-01 ..., counties 54011, 54099


def letter_of(raw: bytes, reason: RejectReason, topic: str = "overdose.ems.v1") -> Letter:
    record = dead_letter(raw, Origin(topic=topic, partition=1, offset=5), NOW, reason, "why")
    return Letter(value=encode(record), topic="overdose.rejected.v1", partition=0, offset=9)


def test_agency_source_and_program_come_from_the_original() -> None:
    raw = json.dumps({"agency_id": "EX-PD-01", "source": "police", "patient": {"x": 1}})
    facts = letter_facts(letter_of(raw.encode(), RejectReason.INVALID_EVENT), PROGRAMS, NOW)
    assert (facts.agency_id, facts.source, facts.program_id) == ("EX-PD-01", "police", "example")
    assert (facts.origin_topic, facts.origin_partition, facts.origin_offset) == (
        "overdose.ems.v1", 1, 5,
    )  # fmt: skip
    by_county = json.dumps({"agency_id": "NEW-1", "patient": {"address": {"county_fips": "54099"}}})
    facts = letter_facts(letter_of(by_county.encode(), RejectReason.FUTURE_TIME), PROGRAMS, NOW)
    assert (facts.program_id, facts.source) == ("example", "ems"), "county; source by topic"
    nul = json.dumps({"agency_id": "EX\u0000EMS", "source": "fire"}).encode()
    facts = letter_facts(letter_of(nul, RejectReason.INVALID_EVENT, "x.police.v1"), PROGRAMS, NOW)
    assert facts.agency_id == "EX\ufffdEMS" and facts.program_id is None
    assert facts.source is None, "neither the event nor the topic names a known source"


def test_an_oversize_original_keeps_its_first_mib_and_its_size() -> None:
    raw = b"x" * (KEPT_BYTES + 10)
    facts = letter_facts(letter_of(raw, RejectReason.OVERSIZE), PROGRAMS, NOW)
    assert facts.original_size == KEPT_BYTES + 10
    assert len(facts.original_b64) == 4 * ((KEPT_BYTES + 2) // 3)


def test_an_unreadable_letter_is_kept_with_what_is_known() -> None:
    garbage = Letter(value=b"\xff\xfe not json", topic="t.rejected", partition=2, offset=44)
    facts = letter_facts(garbage, PROGRAMS, NOW)
    assert facts.reason == UNREADABLE and facts.rejected_at == NOW
    assert (facts.origin_topic, facts.origin_partition, facts.origin_offset) == (
        "t.rejected", 2, 44,
    )  # fmt: skip
    assert "t.rejected[2]@44" in facts.detail and facts.original_size == len(garbage.value)
    other = Letter(value=garbage.value, topic="t.rejected", partition=2, offset=45)
    assert letter_facts(other, PROGRAMS, NOW).natural_key != facts.natural_key
    assert reason_words(UNREADABLE) == "The dead letter itself is unreadable"
    assert reason_words("something_new") == "Something new"


def test_the_same_record_rejected_again_has_the_same_natural_key() -> None:
    raw = b'{"event_id": '
    first = letter_of(raw, RejectReason.MALFORMED_JSON)
    later = dead_letter(
        raw, Origin(topic="overdose.ems.v1", partition=1, offset=5), NOW + timedelta(seconds=9),
        RejectReason.MALFORMED_JSON, "why",
    )  # fmt: skip
    again = Letter(value=encode(later), topic="overdose.rejected.v1", partition=3, offset=1)
    assert first.value != again.value
    key = letter_facts(first, PROGRAMS, NOW).natural_key
    assert letter_facts(again, PROGRAMS, NOW).natural_key == key


def test_who_sees_which_rejections() -> None:
    known = ["example", "north"]
    coordinator = Principal("1", "c", {"example": Role.COORDINATOR, "north": Role.OUTREACH})
    assert scope_of(coordinator, known) == RejectionScope(programs=("example",))
    for role in (Role.OUTREACH, Role.LAW_ENFORCEMENT, Role.PROGRAM_MANAGER):
        assert scope_of(Principal("2", "o", {"example": role}), known) is None, role
    admin = Principal("3", "a", {ALL_PROGRAMS: Role.ADMIN})
    assert scope_of(admin, known) == RejectionScope(everything=True)
    assert program_scope(admin, "north") == RejectionScope(programs=("north",), unrouted=True)
    assert program_scope(coordinator, "example").unrouted is False


def test_since_reads_durations_and_iso_times() -> None:
    assert parse_since("24h", NOW) == NOW - timedelta(hours=24)
    assert parse_since("7d", NOW) == NOW - timedelta(days=7)
    assert parse_since("90m", NOW) == NOW - timedelta(minutes=90)
    assert parse_since("2026-11-22T08:00:00-05:00", NOW) == datetime(2026, 11, 22, 13, tzinfo=UTC)
    assert parse_since("2026-11-22T08:00:00 05:00", NOW) == datetime(2026, 11, 22, 3, tzinfo=UTC)
    for wrong in ("soon", "2026-11-22T08:00:00", "999999d", ""):
        with pytest.raises(ValueError):
            parse_since(wrong, NOW)

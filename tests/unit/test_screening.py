"""Screening of raw messages: every bad input becomes a reasoned rejection, good ones route."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.intake import IntakeRecord, Origin, RejectedEvent, RejectReason
from services.ingest.screening import ScreeningRules, screen
from services.programs import load_programs

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
ORIGIN = Origin(topic="overdose.ems.v1", partition=1, offset=42, key="k")
PROGRAMS = load_programs(None)


def event(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "e-1",
        "source": "ems",
        "agency_id": "EX-EMS-01",
        "incident_number": "I-1",
        "occurred_at": "2026-11-22T08:30:00-05:00",
        "location": {"county_fips": "54011"},
    }
    base.update(changes)
    return base


def run(raw: bytes, origin: Origin = ORIGIN) -> IntakeRecord | RejectedEvent:
    return screen(raw, origin, programs=PROGRAMS, now=NOW, rules=ScreeningRules())


def rejected(raw: bytes, origin: Origin = ORIGIN) -> RejectedEvent:
    result = run(raw, origin)
    assert isinstance(result, RejectedEvent), result
    assert result.original() == raw, "the original bytes travel with the rejection"
    assert result.origin == origin
    return result


def test_valid_event_is_routed_to_its_program() -> None:
    result = run(json.dumps(event()).encode())
    assert isinstance(result, IntakeRecord)
    assert result.program_id == "example"
    assert result.event.occurred_at == datetime(2026, 11, 22, 13, 30, tzinfo=UTC)
    assert result.origin == ORIGIN and result.received_at == NOW


def test_malformed_json() -> None:
    r = rejected(b'{"event_id": "x", ')
    assert r.reason is RejectReason.MALFORMED_JSON
    assert "not valid UTF-8 JSON" in r.detail


def test_not_utf8() -> None:
    assert rejected(b"\xff\xfe{}").reason is RejectReason.MALFORMED_JSON


def test_wrong_types_and_missing_fields_name_each_field() -> None:
    raw = json.dumps({"event_id": 5, "source": "fire", "occurred_at": "yesterday"}).encode()
    r = rejected(raw)
    assert r.reason is RejectReason.INVALID_EVENT
    fields = {e.field for e in r.errors}
    assert {"event_id", "source", "occurred_at", "agency_id"} <= fields


def test_naive_timestamp_is_refused_with_advice() -> None:
    r = rejected(json.dumps(event(occurred_at="2026-11-22T08:30:00")).encode())
    assert r.reason is RejectReason.INVALID_EVENT
    assert any(e.field == "occurred_at" and "offset" in e.message for e in r.errors)


def test_more_than_an_hour_in_the_future() -> None:
    soon = (NOW + timedelta(minutes=59)).isoformat()
    assert isinstance(run(json.dumps(event(occurred_at=soon)).encode()), IntakeRecord)
    late = (NOW + timedelta(minutes=61)).isoformat()
    r = rejected(json.dumps(event(occurred_at=late)).encode())
    assert r.reason is RejectReason.FUTURE_TIME
    assert "clock" in r.detail


def test_unknown_jurisdiction() -> None:
    raw = json.dumps(event(agency_id="ELSEWHERE-1", location={"county_fips": "06037"})).encode()
    r = rejected(raw)
    assert r.reason is RejectReason.UNROUTABLE
    assert "06037" in r.detail and "programs file" in r.detail


def test_oversize_is_refused_before_parsing() -> None:
    raw = json.dumps(event(disposition="x" * 100)).encode()
    small = ScreeningRules(max_bytes=len(raw) - 1)
    result = screen(raw, ORIGIN, programs=PROGRAMS, now=NOW, rules=small)
    assert isinstance(result, RejectedEvent)
    assert result.reason is RejectReason.OVERSIZE and result.original_size == len(raw)


def test_police_event_on_the_ems_topic() -> None:
    r = rejected(json.dumps(event(source="police")).encode())
    assert r.reason is RejectReason.SOURCE_MISMATCH


def test_unknown_fields_are_refused() -> None:
    r = rejected(json.dumps(event(patient_name="should not be here")).encode())
    assert r.reason is RejectReason.INVALID_EVENT
    assert [e.field for e in r.errors] == ["patient_name"]


@pytest.mark.parametrize("value", ["", "{}", "[]", "null", "42"])
def test_json_that_is_not_an_event(value: str) -> None:
    r = rejected(value.encode())
    assert r.reason in {RejectReason.MALFORMED_JSON, RejectReason.INVALID_EVENT}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"event_id": "e\u0000-1"}, "event_id"),
        ({"incident_number": "I\u0000"}, "incident_number"),
        ({"agency_id": "EX-EMS-01\u0000"}, "agency_id"),
        ({"patient": {"last_name": "Smith\u001b[2J"}}, "patient.last_name"),
        ({"suspected_substances": ["T40.4X1A", "fent\u0085anyl"]}, "suspected_substances"),
        ({"location": {"address": "1 Main\u0000St", "county_fips": "54011"}}, "location.address"),
    ],
)
def test_a_control_character_in_any_text_is_refused_with_the_field(
    changes: dict[str, Any], field: str
) -> None:
    found = rejected(json.dumps(event(**changes)).encode())
    assert found.reason is RejectReason.INVALID_EVENT
    assert [e.field for e in found.errors] == [field]
    assert "control character" in found.errors[0].message
    assert "\u0000" not in found.detail and "\u001b" not in found.detail


@pytest.mark.parametrize("when", [12345, 1764000000.5, 0])
def test_a_number_is_not_a_time(when: float) -> None:
    found = rejected(json.dumps(event(occurred_at=when)).encode())
    assert found.reason is RejectReason.INVALID_EVENT
    assert [e.field for e in found.errors] == ["occurred_at"]
    assert "ISO-8601" in found.errors[0].message

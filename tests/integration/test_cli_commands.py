"""The CLI's commands: the contract's JSON Schema, the publisher's per-line choices, and
what a command says when the store or the broker is not there."""

from __future__ import annotations

import json

import pytest

from schemas.overdose_event import Source
from services.cli import main
from services.ingest.publisher import topic_for_line

CONTRACT_FIELDS = {
    "event_id", "source", "agency_id", "incident_number", "occurred_at", "location",
    "patient", "fatal", "naloxone", "suspected_substances", "disposition", "consent",
    "agency_name", "destination",  # optional, added (NEMSIS eResponse.02, eDisposition)
}  # fmt: skip


def test_schema_command_prints_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "overdose-event"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert set(schema["properties"]) == CONTRACT_FIELDS
    assert set(schema["required"]) == {"event_id", "source", "agency_id", "occurred_at"}
    location = schema["$defs"]["Location"]["properties"]
    assert {
        "lat", "lon", "address", "address2", "city", "state", "zip", "county_fips", "description"
    } == set(location)  # fmt: skip
    patient = schema["$defs"]["Patient"]["properties"]
    assert {
        "first_name", "middle_name", "last_name", "dob", "age", "sex", "phone", "phones",
        "language", "address",
    } == set(patient)  # fmt: skip


def test_publisher_picks_the_topic_from_each_line() -> None:
    police = json.dumps({"event_id": "p1", "source": "police"}).encode()
    assert topic_for_line(police, None) == (Source.POLICE, b"p1", None)
    forced = topic_for_line(police, Source.EMS)
    assert forced[0] is Source.EMS and forced[2] is None
    broken = topic_for_line(b'{"event_id": ', None)
    assert broken[0] is Source.EMS and broken[2] is not None and "reject" in broken[2]
    odd = topic_for_line(json.dumps({"event_id": "x", "source": "fire"}).encode(), None)
    assert odd[0] is Source.EMS and odd[2] is not None and "'fire'" in odd[2]


def test_queue_command_refuses_an_unknown_program(
    tmp_path: object, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QRT_DATA_DIR", str(tmp_path))
    assert main(["migrate"]) == 0
    assert main(["queue", "--program", "nowhere"]) == 2
    assert "no program 'nowhere'" in capsys.readouterr().err


def test_commands_against_an_unmigrated_store_say_what_to_do(
    tmp_path: object, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QRT_DATA_DIR", str(tmp_path))
    assert main(["queue", "--program", "example"]) == 1
    assert "qrt migrate" in capsys.readouterr().err


def test_publish_without_a_broker_says_how_to_get_one(
    tmp_path: object, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QRT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert main(["publish", "-"]) == 1
    assert "qrt up" in capsys.readouterr().err

"""The intake worker on the real broker: every bad input dead-lettered with its reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.codec import decode
from schemas.intake import IntakeRecord, RejectedEvent, RejectReason
from services.settings import Settings
from services.topics import ensure_topics
from tests import wall_clock
from tests.support import Worker, producer, read_topic, stack_env


def good(event_id: str, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": event_id,
        "source": "ems",
        "agency_id": "EX-EMS-01",
        "incident_number": f"I-{event_id}",
        "occurred_at": (wall_clock.now() - timedelta(hours=2)).isoformat(),
        "location": {"county_fips": "54011"},
        "patient": {"first_name": "Alex", "last_name": "Testperson"},
    }
    event.update(changes)
    return event


@pytest.fixture
def intake(broker: str, topic_prefix: str, tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(topic_prefix=topic_prefix, data_dir=tmp_path)
    ensure_topics(settings, broker)
    env = stack_env(tmp_path, broker, topic_prefix, None)
    worker = Worker("intake", env, tmp_path).start()
    yield settings
    worker.stop()


def test_bad_input_is_dead_lettered_and_good_input_routed(broker: str, intake: Settings) -> None:
    ems, police = intake.topic("overdose.ems.v1"), intake.topic("overdose.police.v1")
    future = (wall_clock.now() + timedelta(hours=3)).isoformat()
    bad: dict[str, tuple[str, bytes, RejectReason]] = {
        "malformed": (ems, b'{"event_id": "m1", "source": ', RejectReason.MALFORMED_JSON),
        "types": (
            ems,
            json.dumps(good("t1", fatal="sometimes", naloxone={"doses": "two"})).encode(),
            RejectReason.INVALID_EVENT,
        ),
        "missing": (ems, json.dumps({"event_id": "x1"}).encode(), RejectReason.INVALID_EVENT),
        "naive": (
            ems,
            json.dumps(good("n1", occurred_at="2026-11-21T10:00:00")).encode(),
            RejectReason.INVALID_EVENT,
        ),
        "future": (ems, json.dumps(good("f1", occurred_at=future)).encode(),
                   RejectReason.FUTURE_TIME),
        "nowhere": (
            ems,
            json.dumps(
                good("u1", agency_id="ELSEWHERE", location={"county_fips": "06037"})
            ).encode(),
            RejectReason.UNROUTABLE,
        ),
        "oversize": (
            ems,
            json.dumps(good("o1", disposition="x" * (1024 * 1024))).encode(),
            RejectReason.OVERSIZE,
        ),
        "mismatch": (police, json.dumps(good("s1")).encode(), RejectReason.SOURCE_MISMATCH),
    }  # fmt: skip
    accepted = [
        (ems, good("ok-ems")),
        (police, good("ok-police", source="police", agency_id="EX-PD-01")),
    ]
    send = producer(broker)
    for key, (topic, raw, _) in bad.items():
        send.send(topic, key=key.encode(), value=raw)
    for topic, event in accepted:
        send.send(topic, key=event["event_id"].encode(), value=json.dumps(event).encode())
    send.flush()
    send.close()

    rejected = read_topic(broker, intake.topic("overdose.rejected.v1"), len(bad))
    assert len(rejected) == len(bad), "exactly one rejection per bad message"
    by_key = {m.key.decode(): decode(RejectedEvent, m.value) for m in rejected}
    for key, (topic, raw, reason) in bad.items():
        record = by_key[key]
        assert record.reason is reason, (key, record.reason, record.detail)
        assert record.original() == raw, f"{key}: original bytes kept"
        assert record.origin.topic == topic and record.origin.offset >= 0
        assert record.detail
    assert {e.field for e in by_key["types"].errors} >= {"fatal", "naloxone.doses"}

    routed = read_topic(broker, intake.topic("followup.intake.v1"), len(accepted))
    records = [decode(IntakeRecord, m.value) for m in routed]
    assert sorted(r.event.event_id for r in records) == ["ok-ems", "ok-police"]
    assert {m.key for m in routed} == {b"example"}, "keyed by program id"

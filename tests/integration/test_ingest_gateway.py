"""The HTTP ingest gateway on the real broker and store: keys, agencies, 202 only after
the broker acknowledged, 422/413, duplicates, NEMSIS uploads."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.bootstrap import bootstrap
from services.ingest.gateway import create_key
from services.runtime.embedded_broker import EmbeddedBroker, free_port
from services.settings import Settings
from services.store.repository import Store
from services.topics import ensure_topics
from tests import wall_clock
from tests.support import read_topic
from tests.support_nemsis import export, report_id

CORPUS = Path(__file__).resolve().parents[1] / "data" / "nemsis"


def event(event_id: str, agency: str = "EX-EMS-01", **changes: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "source": "ems",
        "agency_id": agency,
        "incident_number": f"I-{event_id}",
        "occurred_at": (wall_clock.now() - timedelta(hours=2)).isoformat(),
        "location": {"county_fips": "54011"},
        **changes,
    }


@pytest.fixture
def gateway(store: Store, broker: str, topic_prefix: str, tmp_path: Path) -> Any:
    settings = Settings(
        kafka_bootstrap_servers=broker, topic_prefix=topic_prefix, data_dir=tmp_path,
        max_event_bytes=4096, gateway_max_batch_bytes=64 * 1024,
    )  # fmt: skip
    ensure_topics(settings, broker)
    with agency_client(store, settings) as client:
        yield client, settings
        publisher = client.app.state.gateway._publisher  # made at the first publish
        producer = publisher._producer if publisher is not None else None
    assert producer is None or producer._closed  # stopped on the app's shutdown


@contextlib.contextmanager
def agency_client(store: Store, settings: Settings) -> Iterator[TestClient]:
    """The API with its lifespan, signed in with a new key of agency EX-EMS-01."""
    app = create_app(settings, ctx=bootstrap(settings, store=store))
    key = create_key(store, "EX-EMS-01", wall_clock.now(), "test vendor")
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client


def on_topic(
    broker: str, settings: Settings, expect: int, source: str = "ems", timeout_s: float = 10
) -> list[dict[str, Any]]:
    topic = settings.topic(f"overdose.{source}.v1")
    return [json.loads(m.value) for m in read_topic(broker, topic, expect, timeout_s=timeout_s)]


def nothing_on_topic(broker: str, settings: Settings) -> None:
    with pytest.raises(AssertionError, match="0 messages"):
        on_topic(broker, settings, 1, timeout_s=1)


def test_one_event_is_acknowledged_then_a_repeat_is_a_duplicate(gateway: Any, broker: str) -> None:
    client, settings = gateway
    first = client.post("/api/v1/events", json=event("gw-1"))
    assert first.status_code == 202 and first.json() == {"event_id": "gw-1", "duplicate": False}
    again = client.post("/api/v1/events", json=event("gw-1"))
    assert again.status_code == 202 and again.json()["duplicate"] is True
    assert [e["event_id"] for e in on_topic(broker, settings, 1)] == ["gw-1"]


def test_a_batch_is_all_or_nothing_with_field_errors(gateway: Any, broker: str) -> None:
    client, settings = gateway
    bad = client.post(
        "/api/v1/events",
        json=[event("gw-2"), event("gw-3", occurred_at="2026-11-20T10:00:00"), {"source": "x"}],
    )
    assert bad.status_code == 422
    refused = bad.json()["events"]
    assert [r["index"] for r in refused] == [1, 2]
    assert any(e["field"] == "occurred_at" for e in refused[0]["errors"])
    nothing_on_topic(broker, settings)
    good = client.post("/api/v1/events", json=[event("gw-2"), event("gw-3"), event("gw-2")])
    assert good.status_code == 202
    assert [r["duplicate"] for r in good.json()["events"]] == [False, False, True]
    assert sorted(e["event_id"] for e in on_topic(broker, settings, 2)) == ["gw-2", "gw-3"]


def test_keys_and_agencies_are_enforced(gateway: Any, broker: str) -> None:
    client, settings = gateway
    no_key = client.post("/api/v1/events", json=event("gw-4"), headers={"Authorization": ""})
    assert no_key.status_code == 401
    wrong = client.post(
        "/api/v1/events", json=event("gw-4"), headers={"Authorization": "Bearer qrt_nope"}
    )
    assert wrong.status_code == 401
    other = client.post("/api/v1/events", json=event("gw-4", agency="EX-EMS-02"))
    assert other.status_code == 403 and "EX-EMS-01" in other.json()["detail"]
    xml = (CORPUS / "f11_impression.xml").read_bytes().replace(b"EX-EMS-01", b"EX-EMS-02")
    foreign_file = client.post("/api/v1/events/nemsis", content=xml)
    assert foreign_file.status_code == 403
    nothing_on_topic(broker, settings)


def test_size_limits_answer_413(gateway: Any) -> None:
    client, _ = gateway
    big = client.post("/api/v1/events", json=event("gw-5", disposition="x" * 150) | {
        "suspected_substances": ["y" * 150] * 40})  # fmt: skip
    assert big.status_code == 413
    huge = client.post("/api/v1/events", content=b"[" + b" " * 70_000 + b"]")
    assert huge.status_code == 413


def test_a_nemsis_upload_publishes_the_overdoses_and_summarizes(gateway: Any, broker: str) -> None:
    client, settings = gateway
    xml = (CORPUS / "several_reports.xml").read_bytes()
    response = client.post("/api/v1/events/nemsis", content=xml)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["reports"] == 6 and body["published"] == 4 and body["duplicates"] == 0
    assert body["skipped"] == {"not an overdose": 2}
    assert len(on_topic(broker, settings, 4)) == 4
    assert client.post("/api/v1/events/nemsis", content=xml).json()["duplicates"] == 4
    hostile = client.post("/api/v1/events/nemsis", content=(CORPUS / "xxe.xml").read_bytes())
    assert hostile.status_code == 422 and "unsafe XML" in hostile.json()["detail"]


def test_a_nemsis_upload_of_many_overdoses_is_published_in_parts(gateway: Any, broker: str) -> None:
    """1,234 overdoses: kept encoded while the file is read, then checked for duplicates
    and published 500 at a time (one query for all of them was too deep for SQLite)."""
    client, settings = gateway
    xml = export(1234)
    response = client.post("/api/v1/events/nemsis", content=xml)
    assert response.status_code == 202, response.text
    assert response.json()["published"] == 1234 and response.json()["duplicates"] == 0
    sent = on_topic(broker, settings, 1234)
    assert sorted(e["event_id"] for e in sent) == sorted(report_id(n) for n in range(1234))
    again = client.post("/api/v1/events/nemsis", content=xml).json()
    assert (again["published"], again["duplicates"]) == (0, 1234)


def test_the_smallest_police_record_is_accepted(gateway: Any, broker: str, store: Store) -> None:
    client, settings = gateway
    key = create_key(store, "EX-PD-01", wall_clock.now())
    minimal = {
        "event_id": "pd-1",
        "source": "police",
        "agency_id": "EX-PD-01",
        "occurred_at": (wall_clock.now() - timedelta(minutes=30)).isoformat(),
        "location": {"lat": 38.42, "lon": -82.44, "county_fips": "54011"},
        "naloxone": {"administered": True},
        "fatal": False,
    }
    response = client.post(
        "/api/v1/events", json=minimal, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 202, response.text
    (published,) = on_topic(broker, settings, 1, source="police")
    assert published["event_id"] == "pd-1" and published["naloxone"]["administered"] is True


def test_no_broker_answers_503_and_the_event_is_not_remembered(
    store: Store, tmp_path: Path
) -> None:
    """Nothing listens on the port: 503 with Retry-After, and the same event sent again
    later is not taken for a duplicate of one that was never accepted."""
    settings = Settings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}", data_dir=tmp_path)
    with agency_client(store, settings) as client:
        for _ in range(2):
            answer = client.post("/api/v1/events", json=event("gw-nobroker"))
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"] == "5"
            assert "nothing was accepted" in answer.json()["detail"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # about the broker
def test_a_broker_lost_and_back_answers_503_then_202(
    store: Store, tmp_path: Path, topic_prefix: str
) -> None:
    """The producer that failed is replaced: once the broker is back, the same event is
    accepted (not refused forever, not taken for a duplicate)."""
    port = free_port()
    first = EmbeddedBroker(log_file=tmp_path / "b1.log", port=port)
    servers = first.start()
    settings = Settings(
        kafka_bootstrap_servers=servers, topic_prefix=topic_prefix, data_dir=tmp_path,
        gateway_ack_seconds=2,
    )  # fmt: skip
    ensure_topics(settings, servers)
    with agency_client(store, settings) as client:
        assert client.post("/api/v1/events", json=event("gw-lost-1")).status_code == 202
        first.stop()
        lost = client.post("/api/v1/events", json=event("gw-lost-2"))
        assert lost.status_code == 503, lost.text
        with EmbeddedBroker(log_file=tmp_path / "b2.log", port=port) as second:
            ensure_topics(settings, second.bootstrap_servers)
            back = client.post("/api/v1/events", json=event("gw-lost-2"))
            assert back.status_code == 202 and back.json()["duplicate"] is False, back.text
            assert [e["event_id"] for e in on_topic(servers, settings, 1)] == ["gw-lost-2"]

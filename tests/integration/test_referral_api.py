"""`POST /api/v1/programs/{id}/referrals` on the real broker and store (SQLite and
PostgreSQL): a member's token or a partner agency's key, 202 only once the broker has the
referral, a repeat answered as a duplicate, every refusal with its status and reason; and
the intake worker screening `referral.v1` (routed like any report, or dead-lettered with
the reason)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from schemas.accounts import Role
from schemas.codec import decode
from schemas.intake import IntakeRecord, RejectedEvent, RejectReason
from schemas.referral_event import UNREACHABLE
from services.api.app import create_app
from services.bootstrap import bootstrap
from services.ingest.gateway import create_key
from services.settings import Settings
from services.store.repository import Store
from services.store.tables import audit_log
from services.topics import ensure_topics
from tests import wall_clock
from tests.support import Worker, producer, read_topic, stack_env
from tests.support_accounts import bearer

PATH = "/api/v1/programs/example/referrals"
PERSON = {"first_name": "Rowan", "phone": "+13045550161"}


@pytest.fixture
def api(store: Store, broker: str, topic_prefix: str, tmp_path: Path) -> Iterator[Any]:
    settings = Settings(
        kafka_bootstrap_servers=broker, topic_prefix=topic_prefix, data_dir=tmp_path
    )
    ensure_topics(settings, broker)
    app = create_app(settings, ctx=bootstrap(settings, store=store))
    with TestClient(app) as client:
        yield client, settings


def on_topic(broker: str, settings: Settings, expect: int, timeout_s: float = 10) -> list[Any]:
    found = read_topic(broker, settings.topic("referral.v1"), expect, timeout_s=timeout_s)
    return [json.loads(m.value) for m in found]


def _received(store: Store) -> list[tuple[str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.actor, audit_log.c.subject_id).where(
                audit_log.c.action == "referral_received"
            )
        ).all()
    return [(r.actor, r.subject_id) for r in rows]


def test_a_member_refers_and_a_repeat_is_a_duplicate(api: Any, broker: str, store: Store) -> None:
    client, settings = api
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    body = {"referral_id": "staff-1", "kind": "self", "person": PERSON, "urgency": "now"}
    first = client.post(PATH, json=body, headers=coordinator)
    assert first.status_code == 202, first.text
    assert first.json() == {"referral_id": "staff-1", "duplicate": False}
    again = client.post(PATH, json=body, headers=coordinator)
    assert again.status_code == 202 and again.json()["duplicate"] is True
    (sent,) = on_topic(broker, settings, 1)
    assert (sent["referral_id"], sent["program_id"], sent["agency_id"]) == (
        "staff-1", "example", "example",
    )  # fmt: skip
    assert sent["source"] == "referral" and sent["person"] == PERSON
    referred = wall_clock.now() - timedelta(hours=1)
    made = client.post(
        PATH, headers=coordinator,
        json={"kind": "family", "person": PERSON, "referred_at": referred.isoformat()},
    )  # fmt: skip
    assert made.status_code == 202 and made.json()["referral_id"]  # an id made for it
    assert _received(store) == [
        ("user:coord", "staff-1"),
        ("user:coord", made.json()["referral_id"]),
    ]


def test_who_may_refer(api: Any, broker: str, store: Store) -> None:
    client, settings = api
    body = {"kind": "friend", "person": PERSON}
    assert client.post(PATH, json=body).status_code == 401
    assert (
        client.post(PATH, json=body, headers={"Authorization": "Bearer qrt_nope"}).status_code
        == 401
    )
    manager = client.post(PATH, json=body, headers=bearer(store, "pm", Role.PROGRAM_MANAGER))
    assert manager.status_code == 403 and "record" in manager.json()["detail"]
    stranger = bearer(store, "far", Role.COORDINATOR, "another")
    assert client.post(PATH, json=body, headers=stranger).status_code == 404
    police = bearer(store, "officer", Role.LAW_ENFORCEMENT)
    notes = client.post(PATH, json={**body, "notes": "uses daily"}, headers=police)
    assert notes.status_code == 403 and "notes" in notes.json()["detail"]
    assert client.post(PATH, json=body, headers=police).status_code == 202
    assert len(on_topic(broker, settings, 1)) == 1  # only what was accepted


def test_refusals_say_why_and_publish_nothing(api: Any, broker: str, store: Store) -> None:
    client, settings = api
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    nobody = client.post(PATH, json={"kind": "self", "person": {"first_name": "Rowan"}},
                         headers=coordinator)  # fmt: skip
    assert nobody.status_code == 422 and UNREACHABLE in nobody.text
    future = (wall_clock.now() + timedelta(hours=5)).isoformat()
    late = client.post(PATH, json={"kind": "self", "person": PERSON, "referred_at": future},
                       headers=coordinator)  # fmt: skip
    assert late.status_code == 422
    assert late.json()["detail"]["reason"] == RejectReason.FUTURE_TIME.value
    foreign = client.post(PATH, json={"kind": "self", "person": PERSON, "program_id": "x"},
                          headers=coordinator)  # fmt: skip
    assert foreign.status_code == 422  # the program comes from the path only
    with pytest.raises(AssertionError, match="0 messages"):
        on_topic(broker, settings, 1, timeout_s=1)


def test_a_partner_agency_refers_with_its_gateway_key(api: Any, broker: str, store: Store) -> None:
    client, settings = api
    now = wall_clock.now()
    partner = {"Authorization": f"Bearer {create_key(store, 'EX-EMS-01', now, 'ems')}"}
    outsider = {"X-API-Key": create_key(store, "ST-MARY-ER", now, "hospital")}
    body = {"referral_id": "er-7", "kind": "hospital", "person": PERSON}
    accepted = client.post(PATH, json=body, headers=partner)
    assert accepted.status_code == 202, accepted.text
    refused = client.post(PATH, json=body, headers=outsider)
    assert refused.status_code == 403 and "not a partner" in refused.json()["detail"]
    unknown = client.post("/api/v1/programs/nowhere/referrals", json=body, headers=partner)
    assert unknown.status_code == 404
    (sent,) = on_topic(broker, settings, 1)
    assert (sent["agency_id"], sent["program_id"]) == ("EX-EMS-01", "example")
    assert _received(store) == [("agency:EX-EMS-01", "er-7")]


@pytest.fixture
def intake(broker: str, topic_prefix: str, tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(topic_prefix=topic_prefix, data_dir=tmp_path)
    ensure_topics(settings, broker)
    worker = Worker("intake", stack_env(tmp_path, broker, topic_prefix, None), tmp_path).start()
    yield settings
    worker.stop()


def test_the_intake_worker_routes_referrals_and_dead_letters_bad_ones(
    broker: str, intake: Settings
) -> None:
    at = (wall_clock.now() - timedelta(hours=1)).isoformat()
    good = {"referral_id": "w-1", "program_id": "example", "kind": "walk_in",
            "referred_at": at, "person": PERSON, "referrer": {"name": "Desk"}}  # fmt: skip
    bad = {
        "unreachable": {**good, "referral_id": "w-2", "person": {"last_name": "Q"}},
        "unrouted": {**good, "referral_id": "w-3", "program_id": None, "agency_id": "NOPE"},
    }
    send = producer(broker)
    topic = intake.topic("referral.v1")
    send.send(topic, key=b"good", value=json.dumps(good).encode())
    for key, value in bad.items():
        send.send(topic, key=key.encode(), value=json.dumps(value).encode())
    send.flush()
    send.close()
    (routed,) = read_topic(broker, intake.topic("followup.intake.v1"), 1)
    record = decode(IntakeRecord, routed.value)
    assert routed.key == b"example" and record.event.source.value == "referral"
    assert record.referral is not None and record.referral.referrer is not None
    rejected = read_topic(broker, intake.topic("overdose.rejected.v1"), 2)
    reasons = {m.key.decode(): decode(RejectedEvent, m.value) for m in rejected}
    assert reasons["unreachable"].reason is RejectReason.INVALID_EVENT
    assert UNREACHABLE in reasons["unreachable"].detail
    assert reasons["unrouted"].reason is RejectReason.UNROUTABLE
    assert reasons["unrouted"].origin.topic == topic

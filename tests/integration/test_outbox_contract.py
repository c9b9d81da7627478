"""One contract for every outbox (the Outbox port, services/ports.py): the case events'
and the SMS records' tables on SQLite and PostgreSQL, and the in-memory fake, pass the
same tests; the one relay publishes from any of them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.cases import CaseEvent
from schemas.codec import decode, encode
from services.ports import Outbox, OutboxRecord
from services.runtime.outbox_relay import relay
from services.store.outboxes import MemoryOutbox, case_event_outbox, sms_record_outbox
from services.store.repository import Store
from services.store.tables import sms_outbox
from tests.integration.engine_support import Scenario, overdose

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
Filled = tuple[Outbox, list[bytes]]  # an outbox with records in it, and their values in order


def memory(store: Store, cipher: Any) -> Filled:
    box = MemoryOutbox()
    values = [f"v{n}".encode() for n in range(5)]
    for value in values:
        box.add("sms.events.v1", b"example", value)
    return box, values


def case_events(store: Store, cipher: Any) -> Filled:
    Scenario(store, cipher).report(*(overdose() for _ in range(5)))
    box = case_event_outbox(store)
    return box, [r.value for r in box.pending()]


def sms_records(store: Store, cipher: Any) -> Filled:
    values = [f'{{"n": {n}}}'.encode() for n in range(5)]
    with store.transaction() as conn:
        conn.execute(
            sms_outbox.insert(),
            [{"topic": "sms.events.v1", "key": "example", "payload": v.decode(),
              "created_at": NOW} for v in values],
        )  # fmt: skip
    return sms_record_outbox(store), values


KINDS: dict[str, Callable[[Store, Any], Filled]] = {
    "memory": memory, "case_events": case_events, "sms_records": sms_records,
}  # fmt: skip


@pytest.fixture(params=sorted(KINDS))
def filled(request: pytest.FixtureRequest, store: Store, cipher: Any) -> Filled:
    return KINDS[request.param](store, cipher)


def test_pending_is_in_order_and_limited(filled: Filled) -> None:
    box, values = filled
    pending = box.pending()
    assert [r.value for r in pending] == values
    assert [r.seq for r in pending] == sorted(r.seq for r in pending)
    assert [r.value for r in box.pending(limit=2)] == values[:2]
    assert all(isinstance(r, OutboxRecord) and r.key and r.topic for r in pending)


def test_marked_records_are_not_pending_again_and_marking_twice_is_harmless(
    filled: Filled,
) -> None:
    box, values = filled
    first = box.pending()[:2]
    box.mark_published([r.seq for r in first], NOW)
    assert [r.value for r in box.pending()] == values[2:]
    box.mark_published([r.seq for r in first], NOW + timedelta(minutes=1))
    box.mark_published([r.seq for r in box.pending()], NOW)
    assert box.pending() == []


def test_the_relay_publishes_everything_once_acknowledged(filled: Filled) -> None:
    box, values = filled
    published: list[bytes] = []

    async def publish(record: OutboxRecord) -> Any:
        published.append(record.value)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)  # the broker's acknowledgement
        return done

    sent = asyncio.run(relay(box, publish, lambda: NOW, limit=2))
    assert sent == len(values) and published == values
    assert box.pending() == []


def test_a_failed_publish_marks_nothing(filled: Filled) -> None:
    box, values = filled

    async def publish(record: OutboxRecord) -> Any:
        raise ConnectionError("broker away")

    with pytest.raises(ConnectionError):
        asyncio.run(relay(box, publish, lambda: NOW))
    assert [r.value for r in box.pending()] == values, "all of it is published again later"


def test_a_case_event_goes_out_as_encode_writes_the_whole_event(store: Store, cipher: Any) -> None:
    """The relay adds the seq to the stored payload without decoding it: the bytes are the
    ones `encode` gives for the event with its seq, and they decode to it."""
    Scenario(store, cipher).report(overdose(), overdose(patient={"first_name": "Ann, Jo"}))
    pending = case_event_outbox(store).pending()
    assert len(pending) >= 2
    for record in pending:
        event = decode(CaseEvent, record.value)
        assert event.seq == record.seq
        assert record.value == encode(event)

"""A poison record never stops a program: refused with its reason, the rest stored.

- On PostgreSQL, through the real intake and case workers: 20 events with an escaped NUL
  in `event_id` and then 50 valid ones: the 50 become cases, the 20 are dead-lettered.
- A record the store itself refuses (a value PostgreSQL cannot hold, passed to the store
  without screening) is found by halving its batch; the rest of the batch is stored.
- The outage/refusal split of `services/runtime/retry.py`."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, StatementError

from schemas.codec import decode
from schemas.intake import RejectedEvent, RejectReason
from services.cases.opening import open_cases_or_refuse
from services.crypto.fields import FieldCipher
from services.runtime.retry import describe, is_transient, isolate
from services.settings import Settings
from services.store.database import make_engine, migrate
from services.store.repository import Store
from services.store.tables import events
from services.topics import ensure_topics
from tests import wall_clock
from tests.integration.engine_support import overdose as intake_record
from tests.integration.engine_support import programs
from tests.integration.test_intake_worker import good
from tests.stack_fixtures import fresh_pg_schema
from tests.support import Worker, producer, read_topic, stack_env, wait_for
from tests.support_store import count_cases


@pytest.mark.broker
def test_nul_events_are_dead_lettered_and_the_valid_ones_behind_them_become_cases(
    broker: str, topic_prefix: str, tmp_path: Path, postgres_url: str
) -> None:
    """Also: a numeric `occurred_at` is refused, a 60-day-old report kept without a case."""
    fresh_pg_schema(postgres_url)
    engine = make_engine(postgres_url)
    migrate(engine)
    store = Store(engine)
    settings = Settings(topic_prefix=topic_prefix, data_dir=tmp_path)
    ensure_topics(settings, broker)
    env = stack_env(tmp_path, broker, topic_prefix, postgres_url)
    workers = [Worker(role, env, tmp_path).start() for role in ("intake", "cases")]
    try:
        send = producer(broker)
        ems = settings.topic("overdose.ems.v1")
        for n in range(20):
            poison = good(f"poison\u0000{n}", incident_number=f"P-{n}")
            send.send(ems, key=b"example", value=json.dumps(poison).encode())
        numeric = good("numeric", occurred_at=12345)
        old = good("old", occurred_at=(wall_clock.now() - timedelta(days=60)).isoformat())
        for event in (numeric, old):
            send.send(ems, key=b"example", value=json.dumps(event).encode())
        for n in range(50):
            fine = good(f"fine-{n}", patient={"first_name": f"P{n}", "last_name": "Valid"})
            send.send(ems, key=b"example", value=json.dumps(fine).encode())
        send.flush()
        send.close()
        wait_for(lambda: count_cases(store, "example") >= 50, 30, "the 50 valid events as cases")
        rejected = [
            decode(RejectedEvent, m.value)
            for m in read_topic(broker, settings.topic("overdose.rejected.v1"), 21)
        ]
        assert len(rejected) == 21
        assert {r.reason for r in rejected} == {RejectReason.INVALID_EVENT}
        nul = [r for r in rejected if b"\\u0000" in r.original()]
        assert len(nul) == 20, "the original bytes kept"
        assert all("control character" in r.errors[0].message for r in nul)
        (number,) = [r for r in rejected if r not in nul]
        assert [e.field for e in number.errors] == ["occurred_at"]
        with store.engine.connect() as conn:
            kept = conn.execute(
                select(events.c.handling, events.c.case_id).where(events.c.event_id == "old")
            ).one()
        assert tuple(kept) == ("too_old", None), "kept for history, no case"
        assert count_cases(store, "example") == 50
    finally:
        for worker in workers:
            worker.stop()
        store.dispose()


def test_a_record_the_store_refuses_is_left_out_and_the_rest_stored(
    postgres_url: str, cipher: FieldCipher
) -> None:
    fresh_pg_schema(postgres_url)
    engine = make_engine(postgres_url)
    migrate(engine)
    store = Store(engine)
    try:
        now = wall_clock.now()
        batch = [intake_record(at=now - timedelta(hours=n)) for n in range(9)]
        for bad in (2, 7):  # past the screening: the store's own refusal is what is tested
            event = batch[bad].event.model_copy(update={"event_id": f"bad\x00{bad}"})
            batch[bad] = batch[bad].model_copy(update={"event": event})
        done, refused = open_cases_or_refuse(store, batch, programs(), now, cipher)
        assert done.opened + done.linked == 7
        assert [index for index, _ in refused] == [2, 7]
        assert all(reason.startswith("DataError:") or "NUL" in reason for _, reason in refused)
        assert count_cases(store, "example") == 7, "everything else stored"
        _, again = open_cases_or_refuse(store, batch, programs(), now, cipher)
        assert [index for index, _ in again] == [2, 7] and count_cases(store, "example") == 7
    finally:
        store.dispose()


def test_outages_are_retried_and_refusals_are_not() -> None:
    outage = OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    assert is_transient(outage) and is_transient(locked)
    assert is_transient(ConnectionResetError()) and is_transient(TimeoutError())
    refused = DataError("INSERT", {}, ValueError("A string literal cannot contain NUL"))
    assert not is_transient(refused)
    assert not is_transient(IntegrityError("INSERT", {}, ValueError("duplicate key")))
    assert not is_transient(StatementError("bind", "INSERT", {}, ValueError("naive datetime")))
    assert not is_transient(KeyError("x"))
    assert describe(refused) == "ValueError: A string literal cannot contain NUL"
    assert "5550142" not in describe(ValueError("to +1 (304) 555-0142 refused"))


def test_isolate_halves_until_each_refusal_stands_alone() -> None:
    stored: list[int] = []
    calls = 0

    def attempt(batch: list[int]) -> None:
        nonlocal calls
        calls += 1
        if any(n % 10 == 3 for n in batch):
            raise ValueError("refused")
        stored.extend(batch)

    refused = isolate(list(range(40)), attempt)
    assert [n for n, _ in refused] == [3, 13, 23, 33]
    assert sorted(stored) == [n for n in range(40) if n % 10 != 3]
    assert calls < 40, "halving, not one by one"

    def outage(batch: list[int]) -> None:
        raise ConnectionRefusedError()

    with pytest.raises(ConnectionRefusedError):
        isolate([1, 2, 3], outage)


def test_a_report_older_than_the_program_allows_is_kept_without_a_case(
    store: Store, cipher: FieldCipher
) -> None:
    from tests.integration.engine_support import ALEX, T0, Scenario

    scene = Scenario(store, cipher)
    result = scene.report(
        intake_record(at=T0 - timedelta(days=31), patient=ALEX),
        intake_record(at=T0 - timedelta(days=29), patient={**ALEX, "first_name": "Dana"}),
    )
    assert (result.opened, result.too_old) == (1, 1)
    with store.engine.connect() as conn:
        rows = conn.execute(select(events.c.handling, events.c.person_id)).all()
    assert sorted(r.handling for r in rows) == ["case_opened", "too_old"]
    assert all(r.person_id for r in rows), "an old report still tells the person's history"


def test_a_timer_that_cannot_fire_is_set_aside_and_the_others_fire(
    store: Store, cipher: FieldCipher
) -> None:
    from sqlalchemy import update

    from services.cases.timers import sweep_timers
    from services.store.tables import cases, timers
    from tests.integration.engine_support import T0, Scenario

    scene = Scenario(store, cipher)
    scene.report(*(intake_record(at=T0 + timedelta(minutes=n)) for n in range(5)))
    with store.transaction() as conn:
        broken = conn.execute(select(cases.c.id).order_by(cases.c.id).limit(1)).scalar_one()
        conn.execute(update(cases).where(cases.c.id == broken).values(tier="no-such-tier"))
    fired = sweep_timers(store, T0 + timedelta(hours=13))  # every window has opened
    assert fired == 4, "the four sound cases' timers fired"
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(timers.c.case_id, timers.c.fired_at, timers.c.failed_reason).where(
                timers.c.kind == "window_opened"
            )
        ).all()
    aside = [r for r in rows if r.failed_reason]
    assert [r.case_id for r in aside] == [broken] and "ValueError" in aside[0].failed_reason
    assert all(r.fired_at is not None for r in rows), "none left to fail again at every sweep"
    assert sweep_timers(store, T0 + timedelta(hours=13)) == 0

"""Opening cases in the store: idempotent, ordered, outboxed. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import update

from schemas.cases import TIER_RANK, CaseEventKind, Tier
from schemas.intake import IntakeRecord, Origin
from schemas.overdose_event import OverdoseEvent
from services.cases.opening import case_id_for, open_cases
from services.crypto.fields import FieldCipher
from services.crypto.keys import keyring_from_text, new_key_text
from services.programs import load_programs
from services.store.database import (
    SchemaOutOfDate,
    current_revision,
    head_revision,
    make_engine,
    migrate,
    require_current_schema,
)
from services.store.repository import Store
from services.store.tables import cases, metadata
from tests.support_store import count_cases, count_events, mark_published, unpublished_case_events

PROGRAMS = load_programs(None)
CIPHER = FieldCipher(keyring_from_text(new_key_text("t"), base64.b64encode(b"x" * 32).decode()))
NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)


def record(event_id: str, **changes: Any) -> IntakeRecord:
    data: dict[str, Any] = {
        "event_id": event_id,
        "source": "ems",
        "agency_id": "EX-EMS-01",
        "incident_number": f"I-{event_id}",
        "occurred_at": "2026-11-22T08:30:00-05:00",
        "location": {"county_fips": "54011"},
    }
    data.update(changes)
    return IntakeRecord(
        program_id="example",
        event=OverdoseEvent.model_validate(data),
        origin=Origin(topic="followup.intake.v1", partition=0, offset=1),
        received_at=NOW,
    )


def test_one_case_per_event_and_nothing_twice(store: Store) -> None:
    batch = [record("a"), record("b", source="police", agency_id="EX-PD-01")]
    first = open_cases(store, batch, PROGRAMS, NOW, CIPHER)
    assert (first.opened, first.duplicates) == (2, 0)
    again = open_cases(store, batch, PROGRAMS, NOW + timedelta(seconds=5), CIPHER)
    assert (again.opened, again.duplicates) == (0, 2)
    assert count_cases(store, "example") == 2 and count_events(store) == 2


def test_same_incident_from_the_same_source_is_a_duplicate(store: Store) -> None:
    open_cases(store, [record("a", incident_number="INC-9")], PROGRAMS, NOW, CIPHER)
    result = open_cases(store, [record("a-resent", incident_number="INC-9")], PROGRAMS, NOW, CIPHER)
    assert result.duplicates == 1 and count_cases(store) == 1


def test_duplicates_inside_one_batch(store: Store) -> None:
    result = open_cases(store, [record("a"), record("a"), record("b")], PROGRAMS, NOW, CIPHER)
    assert (result.opened, result.duplicates) == (2, 1)


def test_police_report_of_another_agency_is_not_a_duplicate(store: Store) -> None:
    same_number = [
        record("x", incident_number="100"),
        record("y", source="police", agency_id="EX-PD-01", incident_number="100"),
    ]
    assert open_cases(store, same_number, PROGRAMS, NOW, CIPHER).opened == 2


def test_fatal_overdose_is_recorded_but_opens_no_case(store: Store) -> None:
    result = open_cases(store, [record("f", fatal=True)], PROGRAMS, NOW, CIPHER)
    assert (result.opened, result.skipped) == (0, 1)
    assert count_cases(store) == 0 and count_events(store) == 1
    assert open_cases(store, [record("f", fatal=True)], PROGRAMS, NOW, CIPHER).duplicates == 1


def test_queue_lists_window_and_event_in_utc(store: Store) -> None:
    open_cases(store, [record("a", occurred_at="2026-11-21T23:40:00-05:00")], PROGRAMS, NOW, CIPHER)
    (item,) = store.queue("example")
    assert item.case_id == case_id_for(record("a").event)
    assert item.tier is Tier.NEW and item.status.value == "open"
    assert item.occurred_at == datetime(2026, 11, 22, 4, 40, tzinfo=UTC)
    assert item.window_opens_at == datetime(2026, 11, 22, 16, 40, tzinfo=UTC)
    assert item.window_due_at == datetime(2026, 11, 25, 4, 40, tzinfo=UTC)
    assert item.window_due_at.tzinfo is not None
    assert [e.event_id for e in item.events] == ["a"]
    assert store.queue("another-program") == []


def test_queue_order_is_tier_then_due_then_occurrence(store: Store) -> None:
    batch = [
        record("late", occurred_at="2026-11-22T10:00:00+00:00"),
        record("early", occurred_at="2026-11-21T10:00:00+00:00"),
        record("deferred", occurred_at="2026-11-20T10:00:00+00:00"),
        record("unlocated", occurred_at="2026-11-22T11:00:00+00:00"),
    ]
    open_cases(store, batch, PROGRAMS, NOW, CIPHER)
    for name, tier in (("deferred", Tier.DEFERRED), ("unlocated", Tier.UNLOCATED)):
        with store.transaction() as conn:
            conn.execute(
                update(cases)
                .where(cases.c.id == case_id_for(record(name).event))
                .values(tier=tier.value, tier_rank=TIER_RANK[tier])
            )
    order = [item.events[0].event_id for item in store.queue("example")]
    assert order == ["early", "late", "unlocated", "deferred"]
    assert [i.events[0].event_id for i in store.queue("example", limit=2)] == ["early", "late"]


def test_case_events_wait_in_the_outbox_until_published(store: Store) -> None:
    open_cases(store, [record("a"), record("b")], PROGRAMS, NOW, CIPHER)
    pending = unpublished_case_events(store)
    assert [p.event.kind for p in pending] == [CaseEventKind.OPENED] * 2
    assert pending[0].seq < pending[1].seq and pending[0].event.seq == pending[0].seq
    assert {p.event.case_id for p in pending} == {
        case_id_for(record("a").event),
        case_id_for(record("b").event),
    }
    mark_published(store, [pending[0].seq], NOW)
    assert [p.seq for p in unpublished_case_events(store)] == [pending[1].seq]
    mark_published(store, [p.seq for p in pending], NOW)
    assert unpublished_case_events(store) == []


def test_store_refuses_naive_datetimes(store: Store) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        open_cases(store, [record("a")], PROGRAMS, datetime(2026, 11, 22, 15, 0), CIPHER)


def test_migrations_are_repeatable_and_checked(database_url: str) -> None:
    engine = make_engine(database_url)
    with pytest.raises(SchemaOutOfDate, match="qrt migrate"):
        require_current_schema(engine)
    migrate(engine)
    migrate(engine)
    assert current_revision(engine) == head_revision()
    require_current_schema(engine)
    engine.dispose()


def test_migrations_build_exactly_the_declared_tables(database_url: str) -> None:
    """The Alembic history and `tables.py` describe the same schema, indexes included."""
    engine = make_engine(database_url)
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []

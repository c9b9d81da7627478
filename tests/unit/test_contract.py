"""The public contract and synthetic data; the CLI's commands are tried in
tests/integration/test_cli_commands.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas.overdose_event import OverdoseEvent, Source
from services.simulation.synthetic import synthetic_events


def test_minimal_police_record_is_enough() -> None:
    event = OverdoseEvent.model_validate_json(
        b'{"event_id":"p1","source":"police","agency_id":"PD","occurred_at":"2026-11-22T01:00Z"}'
    )
    assert event.patient is None and event.fatal is False and event.consent.sms is None


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValidationError, match="no UTC offset"):
        OverdoseEvent.model_validate(
            {"event_id": "1", "source": "ems", "agency_id": "A", "occurred_at": "2026-11-22T01:00"}
        )


def test_synthetic_events_are_valid_unique_and_routable() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    events = [OverdoseEvent.model_validate(e) for e in synthetic_events(500, now, seed=7)]
    assert len({e.event_id for e in events}) == 500
    assert len({(e.source, e.agency_id, e.incident_number) for e in events}) == 500
    assert all(e.occurred_at <= now for e in events)
    assert {e.source for e in events} == {Source.EMS, Source.POLICE}
    assert any(e.patient is None for e in events) and any(e.fatal for e in events)
    again = [e["event_id"] for e in synthetic_events(5, now, seed=7)]
    assert again == [e.event_id for e in events[:5]], "a seed makes a run repeatable"


def test_clock_is_utc() -> None:
    from services.clock import system_clock

    assert system_clock().tzinfo is UTC

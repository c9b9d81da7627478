"""Building blocks of the spike tests: a program with spike settings and on-call staff,
overdose reports in one place, the store's alert rows."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from schemas.intake import IntakeRecord, Origin
from schemas.overdose_event import OverdoseEvent
from services.programs import Programs, parse_programs
from services.store.repository import Store
from services.store.tables import spike_alerts, spike_outbox, spike_texts

ON_CALL = "+13045550199"
T0 = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York

SPIKE_PROGRAM = f"""
[[program]]
id = "example"
name = "Spike County QRT"
timezone = "America/New_York"
county_fips = ["54011"]
agency_ids = ["EMS-1", "PD-1"]

[program.spikes]
zip_threshold = 3
zip_window_hours = 6
county_threshold = 5
county_window_hours = 24

[[program.spikes.on_call]]
phone = "{ON_CALL}"
opted_in = "2026-11-01"
label = "on-call coordinator"
"""
_serial = itertools.count(1)
PATIENT = {"first_name": "Robin", "last_name": "Spiketest", "dob": "1988-03-04",
           "phone": "(304) 555-0177",
           "address": {"address": "9 Hidden Lane", "zip": "25701"}}  # fmt: skip


def spike_programs(extra: str = "") -> Programs:
    return parse_programs(SPIKE_PROGRAM + extra)


def report(
    at: datetime,
    *,
    zip_code: str = "25701",
    source: str = "ems",
    address: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    fatal: bool = False,
    county: str = "54011",
) -> IntakeRecord:
    n = next(_serial)
    location: dict[str, Any] = {"zip": zip_code, "county_fips": county}
    if address:
        location["address"] = address
    if lat is not None:
        location.update(lat=lat, lon=lon)
    event = OverdoseEvent.model_validate(
        {
            "event_id": f"spk-{source}-{n}",
            "source": source,
            "agency_id": "EMS-1" if source == "ems" else "PD-1",
            "incident_number": f"SPK-{source}-{n}",
            "occurred_at": at.isoformat(),
            "location": location,
            "patient": PATIENT,
            "fatal": fatal,
        }
    )
    return IntakeRecord(
        program_id="example",
        event=event,
        origin=Origin(topic="followup.intake.v1", partition=0, offset=n),
        received_at=at,
    )


def alert_rows(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(spike_alerts).order_by(spike_alerts.c.raised_at)).all())


def outbox_count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(spike_outbox)).scalar_one())


def text_rows(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(spike_texts).order_by(spike_texts.c.id)).all())

"""Building blocks of the case-engine scenarios: events, a program, a clock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.intake import IntakeRecord, Origin
from schemas.overdose_event import OverdoseEvent
from services.cases.opening import IntakeResult, open_cases
from services.crypto.fields import FieldCipher
from services.programs import Programs, parse_programs
from services.store.repository import Store

PROGRAM_TOML = """
[[program]]
id = "example"
name = "Scenario County QRT"
timezone = "America/New_York"
county_fips = ["54011"]
agency_ids = ["EMS-1", "PD-1"]

[[program.team]]
id = "day"
name = "Day team"
capacity_per_shift = 2
[[program.team.shift]]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "09:00"
end = "17:00"
"""

T0 = datetime(2026, 11, 16, 14, 0, tzinfo=UTC)  # a Monday, 09:00 in New York
_serial = itertools.count(1)


def programs() -> Programs:
    return parse_programs(PROGRAM_TOML)


def overdose(
    *,
    source: str = "ems",
    at: datetime = T0,
    patient: dict[str, Any] | None = None,
    location: dict[str, Any] | None = None,
    fatal: bool = False,
    consent: dict[str, Any] | None = None,
) -> IntakeRecord:
    n = next(_serial)
    event = OverdoseEvent.model_validate(
        {
            "event_id": f"{source}-{n}",
            "source": source,
            "agency_id": "EMS-1" if source == "ems" else "PD-1",
            "incident_number": f"INC-{source}-{n}",
            "occurred_at": at.isoformat(),
            "location": location or {"county_fips": "54011"},
            "patient": patient,
            "fatal": fatal,
            "consent": consent or {},
        }
    )
    return IntakeRecord(
        program_id="example",
        event=event,
        origin=Origin(topic="followup.intake.v1", partition=0, offset=n),
        received_at=at,
    )


ALEX = {"first_name": "Alex", "last_name": "Testperson", "dob": "1990-01-02",
        "phone": "(304) 555-0142"}  # fmt: skip


class Scenario:
    def __init__(self, store: Store, cipher: FieldCipher, now: datetime = T0) -> None:
        self.store, self.cipher, self.now = store, cipher, now
        self.programs = programs()

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def report(self, *records: IntakeRecord) -> IntakeResult:
        return open_cases(self.store, list(records), self.programs, self.now, self.cipher)

"""What the spike worker keeps of one intake record: its areas, time and a blind token of
its identity; nothing of the person. A referral is not an overdose and is not kept."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from schemas.intake import IntakeRecord
from services.cases.scene import own_tokens
from services.crypto.fields import FieldCipher
from services.spikes.areas import Area, AreaKind, areas_of

REPORT_KIND = "spike_report"
PLACE_AAD = "spike_report.place"


@dataclass(frozen=True)
class ReportRow:
    program_id: str
    token: str
    source: str
    occurred_at: datetime
    fatal: bool
    areas: tuple[Area, ...]
    scene: frozenset[str]
    place_sealed: str | None

    def area(self, kind: AreaKind) -> str | None:
        return next((a.name for a in self.areas if a.kind is kind), None)

    def values(self, received_at: datetime, counted: bool) -> dict[str, object]:
        return {
            "program_id": self.program_id, "report_token": self.token, "source": self.source,
            "occurred_at": self.occurred_at, "received_at": received_at, "fatal": self.fatal,
            "zip5": self.area(AreaKind.ZIP), "county": self.area(AreaKind.COUNTY),
            "grid": self.area(AreaKind.GRID),
            "place_sealed": self.place_sealed, "counted": counted,
        }  # fmt: skip


def report_row(cipher: FieldCipher, record: IntakeRecord) -> ReportRow | None:
    """One incident is one token: a second report of an agency's incident number (or a
    redelivered event) counts once."""
    if record.referral is not None:
        return None
    event = record.event
    incident = (
        f"incident:{event.incident_number}" if event.incident_number else f"event:{event.event_id}"
    )
    where = event.location
    areas = areas_of(where.zip, where.county_fips, where.lat, where.lon)
    token = cipher.blind(REPORT_KIND, f"{event.source}|{event.agency_id}|{incident}")
    place = None
    if where.lat is not None and where.lon is not None:
        place = cipher.seal(json.dumps([where.lat, where.lon]), place_aad(token))
    return ReportRow(
        program_id=record.program_id,
        token=token,
        source=str(event.source),
        occurred_at=event.occurred_at,
        fatal=event.fatal,
        areas=tuple(areas),
        scene=frozenset(own_tokens(cipher, where)),
        place_sealed=place,
    )


def place_aad(token: str) -> str:
    """A sealed place opens only in its own report's row."""
    return f"{PLACE_AAD}:{token}"


def open_place(cipher: FieldCipher, sealed: str, token: str) -> tuple[float, float]:
    lat, lon = json.loads(cipher.open(sealed, place_aad(token)))
    return float(lat), float(lon)

"""Realistic synthetic EMS and police events for the example program. Invented people only."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("America/New_York")

# A population of invented people about as varied as a county's: some 40 x 400
# name pairs, phones spread over many area codes, so that person matching meets
# the share of namesakes and shared phones it would meet in the field.
FIRST = [
    "Alex", "Jordan", "Taylor", "Casey", "Riley", "Morgan", "Jamie", "Avery", "Quinn",
    "Rowan", "Skyler", "Dakota", "Reese", "Emerson", "Hayden", "Parker", "Sage", "Drew",
    "Blake", "Cameron", "Finley", "Harper", "Jesse", "Kendall", "Logan", "Micah", "Noel",
    "Oakley", "Peyton", "Remy", "Sawyer", "Tatum", "Wren", "Ari", "Bellamy", "Corey",
    "Devon", "Ellis", "Frankie", "Gale",
]  # fmt: skip
_LAST_STEMS = [
    "Sample", "Example", "Demo", "Mock", "Synth", "Test", "Placeholder", "Fiction", "Pretend",
    "Madeup", "Notreal", "Invent", "Dummy", "Proxy", "Stand", "Figment", "Fable", "Myth",
    "Token", "Blank",
]  # fmt: skip
_LAST_ENDINGS = [
    "wood", "ton", "ford", "ridge", "field", "son", "ly", "man", "berg", "dale",
    "more", "by", "well", "worth", "stead", "brook", "hurst", "land", "gate", "shaw",
]  # fmt: skip
LAST = [stem + ending for stem in _LAST_STEMS for ending in _LAST_ENDINGS]
# 555-0100 to 555-0199 are reserved for fiction in every area code.
AREA_CODES = [
    "304", "681", "606", "859", "502", "740", "937", "513", "614", "330", "412", "724",
    "814", "540", "703", "757", "804", "276", "434", "571", "865", "423", "615", "901",
    "704", "828", "919", "336", "252", "910", "317", "765", "812", "219", "574", "260",
    "216", "419", "567", "220",
]  # fmt: skip
STREETS = [
    "Maple Ave",
    "3rd St",
    "Hal Greer Blvd",
    "Washington Blvd",
    "Ritter Park Dr",
    "Adams Ave",
    "Norway Ave",
    "5th Ave",
    "Bridge St",
    "Lake Rd",
]
CITIES = [
    ("Huntington", "54011", "25701"),
    ("Barboursville", "54011", "25504"),
    ("Kenova", "54099", "25530"),
    ("Ceredo", "54099", "25507"),
]
EMS_AGENCIES = ["EX-EMS-01", "EX-EMS-02"]
POLICE_AGENCIES = ["EX-PD-01", "EX-SO-01"]
SUBSTANCES = [["T40.1X1A"], ["T40.411A"], ["F11.120"], ["fentanyl"], ["T40.601A"], [], ["heroin"]]
DISPOSITIONS = ["transported", "refused transport", "refused care", "treated and released"]


def _phone(rng: random.Random) -> str:
    return f"+1{rng.choice(AREA_CODES)}555{rng.randint(100, 199):04d}"


def synthetic_event(rng: random.Random, now: datetime, serial: int) -> dict[str, Any]:
    police = rng.random() < 0.25
    city, county, zip_code = rng.choice(CITIES)
    agency = rng.choice(POLICE_AGENCIES if police else EMS_AGENCIES)
    occurred = now - timedelta(minutes=rng.randint(5, 6 * 60))
    event: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "source": "police" if police else "ems",
        "agency_id": agency,
        "incident_number": f"{agency[-5:]}-{occurred:%y%m%d}-{serial:06d}",
        "occurred_at": occurred.astimezone(LOCAL).isoformat(timespec="seconds"),
        "location": {
            "lat": round(38.42 + rng.uniform(-0.05, 0.05), 5),
            "lon": round(-82.44 + rng.uniform(-0.08, 0.08), 5),
            "address": f"{rng.randint(100, 2999)} {rng.choice(STREETS)}",
            "city": city,
            "state": "WV",
            "zip": zip_code,
            "county_fips": county,
        },
        "fatal": rng.random() < 0.04,
        "naloxone": {
            "administered": rng.random() < 0.8,
            "doses": rng.randint(1, 3),
            "given_by": rng.choice(["EMS", "bystander", "police"]),
        },
        "suspected_substances": [] if police else rng.choice(SUBSTANCES),
        "disposition": None if police else rng.choice(DISPOSITIONS),
        "consent": {"visit": rng.random() < 0.7, "sms": rng.random() < 0.5},
    }
    if rng.random() < 0.85:  # about one in seven reports has nobody identified
        event["patient"] = {
            "first_name": rng.choice(FIRST),
            "last_name": rng.choice(LAST),
            "dob": f"{rng.randint(1960, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "sex": rng.choice(["female", "male"]),
            "phone": _phone(rng) if rng.random() < 0.55 else None,
            "language": "spa" if rng.random() < 0.1 else "eng",
        }
    return event


def synthetic_events(
    count: int, now: datetime, seed: int | None = None
) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for serial in range(count):
        yield synthetic_event(rng, now, serial)

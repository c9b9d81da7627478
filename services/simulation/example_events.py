"""The tour's example events (`qrt publish --example`): a few invented people in the
example program, reported by EMS and police 2 to 30 hours before `now`, so that a new
stack's first queue shows open cases whose visit windows lie ahead and can be planned.

Every report carries the scene (address, city, state, ZIP, lat/lon and a description)
and the patient's phone (555-01xx: reserved for fiction); one is a repeat overdose of
an earlier person, which joins that person's open case and moves its window. Event ids
and incident numbers carry the day of `now`: publishing again the same day gives
duplicates (nothing new), on another day new reports of the same people."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

HUNTINGTON = {"city": "Huntington", "state": "WV", "county_fips": "54011"}
KENOVA = {"city": "Kenova", "state": "WV", "county_fips": "54099"}

ALEX = {
    "first_name": "Alex",
    "last_name": "Testperson",
    "dob": "1990-01-02",
    "phone": "+13045550142",
    "language": "eng",
    "address": {"address": "418 Norway Ave", "zip": "25705", **HUNTINGTON},
}
JORDAN = {  # no residence known: the scene is the place to try
    "first_name": "Jordan",
    "last_name": "Samplewood",
    "dob": "1985-06-15",
    "phone": "+13045550167",
    "language": "eng",
}
CASEY = {
    "first_name": "Casey",
    "last_name": "Placeholder",
    "dob": "1998-11-30",
    "phone": "+16815550123",
    "language": "spa",
    "address": {"address": "22 Bridge St", "zip": "25530", **KENOVA},
}

# (source, agency, hours before now, patient, scene, naloxone doses, disposition)
REPORTS: list[tuple[str, str, float, dict[str, Any], dict[str, Any], int, str | None]] = [
    (
        "ems", "EX-EMS-01", 30, ALEX,
        {"address": "1200 Hal Greer Blvd", "zip": "25701", "lat": 38.4136, "lon": -82.4272,
         "description": "front steps of the apartment building", **HUNTINGTON},
        2, "refused transport",
    ),
    (
        "police", "EX-PD-01", 20, JORDAN,
        {"address": "5th Ave and 10th St", "zip": "25701", "lat": 38.4193, "lon": -82.4426,
         "description": "bus shelter on the north corner", **HUNTINGTON},
        1, None,
    ),
    (
        "ems", "EX-EMS-01", 8, ALEX,  # the repeat: Alex again, at home
        {"address": "418 Norway Ave", "zip": "25705", "lat": 38.4009, "lon": -82.4198,
         "description": "kitchen of the residence", **HUNTINGTON},
        1, "transported",
    ),
    (
        "ems", "EX-EMS-02", 2, CASEY,
        {"address": "22 Bridge St", "zip": "25530", "lat": 38.3979, "lon": -82.5779,
         "description": "parking lot behind the building", **KENOVA},
        3, "refused transport",
    ),
]  # fmt: skip


def example_events(now: datetime) -> list[dict[str, Any]]:
    """The example reports as `OverdoseEvent` JSON objects, timed before `now`."""
    day = now.strftime("%Y%m%d")
    events = []
    for n, (source, agency, hours, patient, scene, doses, disposition) in enumerate(
        REPORTS, start=1
    ):
        tag = "PD" if source == "police" else "EMS"
        event: dict[str, Any] = {
            "event_id": f"example-{day}-{n}",
            "source": source,
            "agency_id": agency,
            "incident_number": f"{tag}-EX-{day}-{n}",
            "occurred_at": (now - timedelta(hours=hours)).isoformat(timespec="seconds"),
            "location": scene,
            "patient": patient,
            "fatal": False,
            "naloxone": {
                "administered": True,
                "doses": doses,
                "given_by": tag if source == "ems" else "police",
            },
            "consent": {"visit": True, "sms": source == "ems"},
        }
        if source == "ems":
            event["suspected_substances"] = ["T40.411A"]
            event["disposition"] = disposition
        events.append(event)
    return events


def example_summary() -> str:
    """What `qrt publish --example` publishes, in a line."""
    people = {patient["last_name"] for _, _, _, patient, _, _, _ in REPORTS}
    hours = [h for _, _, h, _, _, _, _ in REPORTS]
    return (
        f"{len(REPORTS)} reports (EMS and police) of {len(people)} invented people, "
        f"{min(hours):g} to {max(hours):g} hours ago, one a repeat overdose"
    )

"""What a NEMSIS v3.5.1 report holds reaches the store sealed and the team's reads, on a
real store (SQLite and PostgreSQL): the middle name, the apartment, every phone (the first
stays the one texts and the blind index use, matching links the next report), the
scene's words, the destination, the agency's name, the age and who gave naloxone; none of
it in plain text in a row."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from schemas.accounts import Role
from schemas.intake import IntakeRecord, Origin
from schemas.overdose_event import OverdoseEvent
from services.cases.opening import open_cases
from services.core.cases import stored_event_key
from services.ingest.nemsis import read_reports
from services.programs import load_programs
from services.sms import consent
from services.store import person_records
from services.store.repository import Store
from services.store.tables import events, persons
from tests.integration.test_case_store import CIPHER
from tests.integration.test_queue_api import NOW, client_for
from tests.integration.test_web_pages import signed_in
from tests.support_accounts import bearer

FILE = Path(__file__).resolve().parents[1] / "data" / "nemsis" / "v351_full_report.xml"
PLAIN = (
    "Jordan",
    "Apt 4B",
    "Room 12",
    "555-0199",
    "ice machine",
    "Cabell Example",
    "Example County EMS",
)


def the_event() -> OverdoseEvent:
    with FILE.open("rb") as source:
        (report,) = list(read_reports(source))
    assert report.event is not None, report.problem
    return report.event


def intake(event: OverdoseEvent, offset: int = 1) -> IntakeRecord:
    return IntakeRecord(
        program_id="example", event=event, received_at=NOW,
        origin=Origin(topic="followup.intake.v1", partition=0, offset=offset),
    )  # fmt: skip


def stored(store: Store, event_id: str) -> Any:
    with store.engine.connect() as conn:
        return conn.execute(select(events).where(events.c.event_id == event_id)).one()


def test_the_report_is_sealed_whole_and_the_first_phone_stays_the_phone(store: Store) -> None:
    event = the_event()
    open_cases(store, [intake(event)], load_programs(None), NOW, CIPHER)
    row = stored(store, event.event_id)
    key = stored_event_key(row.source, row.agency_id, row.event_id)
    patient = person_records.open_patient(CIPHER, key, row.patient_sealed)
    assert (patient.middle_name, patient.phones) == ("Jordan", ["304-555-0142", "304-555-0199"])
    assert patient.age is not None and patient.age.value == 36
    assert patient.address is not None and patient.address.address2 == "Apt 4B"
    scene = person_records.open_scene(CIPHER, key, row.scene_sealed)
    assert (scene.address2, scene.description) == (
        "Room 12", "Riverside Motel; behind the ice machine"
    )  # fmt: skip
    facts = person_records.open_clinical(CIPHER, key, row.clinical_sealed)
    assert facts.destination == (
        "Cabell Example Hospital (1340 Example Blvd, Emergency entrance, WV 25701)"
    )
    assert (facts.agency_name, facts.naloxone_given_by) == ("Example County EMS", "Law Enforcement")
    first = consent.e164("304-555-0142")
    assert first is not None and row.phone_token == consent.phone_token(CIPHER, first)
    with store.engine.connect() as conn:
        texts = [str(v) for r in conn.execute(select(events)) for v in r] + [
            str(v) for r in conn.execute(select(persons)) for v in r
        ]
    assert not any(word in text for word in PLAIN for text in texts), "sealed, not in a row"


def test_the_case_and_the_person_show_what_the_report_holds(store: Store) -> None:
    event = the_event()
    open_cases(store, [intake(event)], load_programs(None), NOW, CIPHER)
    case_id = str(stored(store, event.event_id).case_id)
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    police = bearer(store, "officer", Role.LAW_ENFORCEMENT)
    with client_for(store) as client:
        case = client.get(f"/api/v1/cases/{case_id}", headers=coordinator).json()
        cut = client.get(f"/api/v1/cases/{case_id}", headers=police).json()
        history = client.get(f"/api/v1/persons/{case['person_id']}", headers=coordinator)
    who = case["person"]
    assert (who["first_name"], who["middle_name"], who["last_name"]) == (
        "Alex", "Jordan", "Testperson"
    )  # fmt: skip
    assert who["phone"] == "304-555-0142" and who["phones"] == ["304-555-0142", "304-555-0199"]
    assert who["age"] == {"value": 36, "unit": "years", "approximate": False} and not who["dob"]
    assert who["addresses"][0]["address2"] == "Apt 4B"
    (report,) = case["reports"]
    assert report["place"]["address2"] == "Room 12"
    assert report["place"]["description"] == "Riverside Motel; behind the ice machine"
    assert report["clinical"]["destination"].startswith("Cabell Example Hospital")
    assert report["clinical"]["agency_name"] == "Example County EMS"
    assert report["clinical"]["naloxone_given_by"] == "Law Enforcement"
    # a law-enforcement member: the person and the place, not where the patient was taken
    assert cut["person"]["phones"] == who["phones"] and cut["reports"][0]["clinical"] is None
    assert history.status_code == 200 and history.json()["person"]["middle_name"] == "Jordan"
    with signed_in(store, "coord2", Role.COORDINATOR) as page:
        html = page.get(f"/cases/{case_id}").text
    assert '<p class="name" id="person-name">Alex Jordan Testperson</p>' in html
    assert "304-555-0199" in html and "(other number)" in html and "age 36" in html
    assert "400 River Rd, Room 12" in html and "behind the ice machine" in html
    assert "taken to Cabell Example Hospital" in html and "Example County EMS" in html
    assert "naloxone given by Law Enforcement" in html


def test_a_later_report_with_a_new_number_links_and_adds_it(store: Store) -> None:
    """Matching is on the first phone, as before; the new number is added after it."""
    event = the_event()
    open_cases(store, [intake(event)], load_programs(None), NOW, CIPHER)
    later = event.model_copy(
        update={
            "event_id": "5f1b6e0a-0351-4a6e-9b1a-000000000352",
            "incident_number": "EMS-26-0352",
            "occurred_at": event.occurred_at + timedelta(days=3),
            "patient": event.patient.model_copy(  # type: ignore[union-attr]
                update={"phone": "304-555-0142", "phones": ["304-555-0142", "304-555-0177"]}
            ),
        }
    )
    open_cases(store, [intake(later, 2)], load_programs(None), NOW + timedelta(days=3), CIPHER)
    first, second = stored(store, event.event_id), stored(store, later.event_id)
    assert second.person_id == first.person_id and second.phone_token == first.phone_token
    with store.engine.connect() as conn:
        sealed = conn.execute(
            select(persons.c.identity_sealed).where(persons.c.id == first.person_id)
        ).scalar_one()
    identity = person_records.open_identity(CIPHER, str(first.person_id), sealed)
    assert identity["phone"] == "304-555-0142"
    assert identity["phones"] == ["304-555-0142", "304-555-0199", "304-555-0177"]

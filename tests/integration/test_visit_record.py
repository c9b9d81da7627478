"""The team's day through the API and the pages, on a real store (SQLite and PostgreSQL):
where to go (the scene and the residence, with geo: and tel: links, never to a program
manager), the full visit record (method, sealed notes, needs, barriers, services, people
met; no preselected result; the time editable), a person's history with a repeat
overdose after a closed case, and replies read and call-backs cleared."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from schemas.accounts import Role
from services.cases.opening import open_cases
from services.programs import load_programs
from services.sms.inbound import handle_reply
from services.sms.texts import schedule_case_texts
from services.store.repository import Store
from services.store.tables import attempts, audit_log, cases, events
from tests.integration.test_case_store import CIPHER, record
from tests.integration.test_queue_api import NOW, PATIENT, client_for
from tests.integration.test_web_pages import csrf_of, signed_in, version_of
from tests.support_accounts import bearer

SCENE = {
    "address": "12 Riverside Dr",
    "city": "Huntington",
    "state": "WV",
    "zip": "25701",
    "lat": 38.4192,
    "lon": -82.4452,
    "description": "behind the library",
    "county_fips": "54011",
}
PROGRAMS = load_programs(None)


def _seed(store: Store, event_id: str = "a", at: str = "2026-11-22T08:30:00-05:00") -> str:
    open_cases(
        store,
        [record(event_id, patient=PATIENT, location=SCENE, occurred_at=at,
                consent={"sms": True}, incident_number=f"I-{event_id}")],
        PROGRAMS, NOW, CIPHER,
    )  # fmt: skip
    with store.engine.connect() as conn:
        return str(
            conn.execute(select(events.c.case_id).where(events.c.event_id == event_id)).scalar_one()
        )


def test_places_and_phone_for_outreach_never_for_a_program_manager(store: Store) -> None:
    case_id = _seed(store)
    outreach = signed_in(store, "peer", Role.OUTREACH, "example")
    html = outreach.get(f"/cases/{case_id}").text
    assert 'href="geo:38.4192,-82.4452' in html and "12 Riverside Dr" in html
    assert "behind the library" in html
    assert 'href="geo:0,0?q=1%20Test%20St%2C%20Huntington%2C%20WV%2025701"' in html  # residence
    assert 'href="tel:+13045550142"' in html
    manager = signed_in(store, "pm", Role.PROGRAM_MANAGER, "example")
    shown = manager.get(f"/cases/{case_id}").text
    assert "Riverside" not in shown and "geo:" not in shown and "tel:" not in shown
    assert "Test St" not in shown
    api = client_for(store)
    body = api.get(
        f"/api/v1/cases/{case_id}", headers=bearer(store, "pm2", Role.PROGRAM_MANAGER)
    ).json()
    assert all(r["place"] is None for r in body["reports"]) and body["person"] is None
    with store.engine.connect() as conn:
        sealed = conn.execute(select(events.c.scene_sealed)).scalar_one()
    assert "Riverside" not in sealed


def test_the_visit_record_from_the_page_and_who_sees_the_notes(store: Store) -> None:
    case_id = _seed(store)
    coord = signed_in(store, "coord", Role.COORDINATOR, "example")
    page = coord.get(f"/cases/{case_id}").text
    assert '<option value="" selected disabled>choose what happened</option>' in page
    assert re.search(r'<option value="contacted_accepted_treatment"[^>]*selected', page) is None
    # no result chosen: refused with words, nothing stored
    refused = coord.post(
        f"/cases/{case_id}/attempts",
        data={"csrf_token": csrf_of(page), "version": version_of(page), "method": "in_person"},
    )
    assert "choose what happened" in refused.text
    saved = coord.post(
        f"/cases/{case_id}/attempts",
        data={
            "csrf_token": csrf_of(page), "version": version_of(page),
            "result": "contacted_declined_future_interest", "method": "in_person",
            "at": "2026-11-22T09:45",  # New York: 14:45 UTC
            "notes": "Mother at the door; he asked us to come back Friday.",
            "people_met": ["client", "family"], "needs": ["housing"],
            "barriers": ["transportation", "phone"], "services": ["naloxone_kit"],
        },
    )  # fmt: skip
    assert saved.status_code == 200 and "Attempt 1 saved." in saved.text
    assert "Mother at the door" in saved.text and "Naloxone kit" in saved.text
    assert "Transportation" in saved.text and "Family" in saved.text
    with store.engine.connect() as conn:
        row = conn.execute(select(attempts)).one()
        audited = conn.execute(
            select(audit_log.c.detail).where(audit_log.c.action == "attempt_recorded")
        ).scalar_one()
    assert row.at.isoformat() == "2026-11-22T14:45:00+00:00"
    assert (row.method, row.barriers, row.services) == (
        "in_person",
        "transportation phone",
        "naloxone_kit",
    )
    assert "Mother" not in (row.notes_sealed or "x") and "Mother" not in audited
    assert '"barriers": "transportation phone"' in audited and '"notes": 1' in audited
    # law enforcement: the attempt, how and whom the team met; not the notes or needs
    police = signed_in(store, "officer", Role.LAW_ENFORCEMENT, "example")
    html = police.get(f"/cases/{case_id}").text
    shown = html.split('id="attempts"')[1].split("</ol>")[0]
    assert "In person" in shown and "Contacted" in shown
    assert "Mother at the door" not in shown and "Naloxone kit" not in shown
    assert "Transportation" not in shown and "declined" not in shown.lower()
    api = client_for(store)
    seen = api.get(
        f"/api/v1/cases/{case_id}", headers=bearer(store, "le", Role.LAW_ENFORCEMENT)
    ).json()
    assert seen["attempts"][0]["notes"] is None and seen["attempts"][0]["method"] == "in_person"
    assert seen["attempts"][0]["people_met"] == ["client", "family"]
    # nor may law enforcement write what they could not read back
    wrote = api.post(
        f"/api/v1/cases/{case_id}/attempts",
        json={"result": "not_located", "notes": "x"},
        headers=bearer(store, "le2", Role.LAW_ENFORCEMENT),
    )
    assert wrote.status_code == 403


def test_the_api_refuses_words_outside_the_vocabulary_and_a_time_before_the_overdose(
    store: Store,
) -> None:
    case_id = _seed(store)
    client = client_for(store)
    coord = bearer(store, "coord", Role.COORDINATOR)
    url = f"/api/v1/cases/{case_id}/attempts"
    odd = client.post(url, json={"result": "not_located", "barriers": ["dragons"]}, headers=coord)
    assert odd.status_code == 422 and "dragons" in odd.text and "transportation" in odd.text
    early = client.post(
        url, json={"result": "not_located", "at": "2026-11-20T08:00:00+00:00"}, headers=coord
    )
    assert early.status_code == 422 and "before the overdose" in early.text
    ok = client.post(
        url, json={"result": "not_located", "method": "materials_left",
                   "services": ["treatment_info", "naloxone_kit"]}, headers=coord,
    )  # fmt: skip
    assert ok.status_code == 201
    detail = client.get(f"/api/v1/cases/{case_id}", headers=coord).json()
    assert detail["attempts"][0]["services"] == ["treatment_info", "naloxone_kit"]


def test_a_repeat_overdose_after_a_closed_case_shows_both_on_the_persons_page(
    store: Store,
) -> None:
    first = _seed(store)
    client = client_for(store)
    coord = bearer(store, "coord", Role.COORDINATOR)
    closed = client.post(
        f"/api/v1/cases/{first}/attempts",
        json={"result": "contacted_declined", "close": True, "method": "in_person"},
        headers=coord,
    )
    assert closed.status_code == 201
    second = _seed(store, "b", at="2026-11-22T09:50:00-05:00")
    assert second != first
    with store.engine.connect() as conn:
        person_id = conn.execute(select(cases.c.person_id).where(cases.c.id == first)).scalar_one()
        assert (
            conn.execute(select(cases.c.person_id).where(cases.c.id == second)).scalar_one()
            == person_id
        )
    history = client.get(f"/api/v1/persons/{person_id}", headers=coord).json()
    assert {c["case_id"] for c in history["cases"]} == {first, second}
    assert len(history["overdoses"]) == 2 and history["person"]["first_name"] == "Dana"
    assert [c["outcome"] for c in history["cases"] if c["case_id"] == first] == [
        "contacted_declined"
    ]
    page = signed_in(store, "peer", Role.OUTREACH, "example")
    html = page.get(f"/persons/{person_id}").text
    assert first[:8] in html and second[:8] in html and "Contacted: declined" in html
    case_html = page.get(f"/cases/{second}").text
    assert f'href="/persons/{person_id}"' in case_html
    # no identities, no person page; law enforcement sees the neutral tier and result
    pm = bearer(store, "pm", Role.PROGRAM_MANAGER)
    assert client.get(f"/api/v1/persons/{person_id}", headers=pm).status_code == 404
    le = client.get(
        f"/api/v1/persons/{person_id}", headers=bearer(store, "le", Role.LAW_ENFORCEMENT)
    ).json()
    assert {c["tier"] for c in le["cases"]} == {"follow-up"}
    assert [c["outcome"] for c in le["cases"] if c["case_id"] == first] == ["contacted"]
    with store.engine.connect() as conn:
        reads = conn.execute(select(audit_log).where(audit_log.c.action == "person_read")).all()
    assert {r.actor for r in reads} == {"user:coord", "user:peer", "user:le"}


def test_a_reply_is_read_on_the_case_page_and_the_call_back_cleared(store: Store) -> None:
    case_id = _seed(store)
    schedule_case_texts(store, CIPHER, PROGRAMS, case_id, NOW)
    handle_reply(store, CIPHER, "SM" + "7" * 32, PATIENT["phone"], "please call me after 5", NOW)
    coord = signed_in(store, "coord", Role.COORDINATOR, "example")
    page = coord.get(f"/cases/{case_id}").text
    assert "please call me after 5" in page and 'id="callback-flag"' in page
    police = signed_in(store, "officer", Role.LAW_ENFORCEMENT, "example")
    assert "please call me" not in police.get(f"/cases/{case_id}").text
    done = coord.post(
        f"/cases/{case_id}/callback-handled",
        data={"csrf_token": csrf_of(page), "version": version_of(page)},
    )
    assert "Call-back marked as handled." in done.text and 'id="callback-flag"' not in done.text
    with store.engine.connect() as conn:
        assert conn.execute(select(cases.c.callback_requested_at)).scalar_one() is None
        read = (
            conn.execute(
                select(audit_log.c.detail).where(
                    audit_log.c.action == "case_read", audit_log.c.actor == "user:coord"
                )
            )
            .scalars()
            .first()
        )
        assert read is not None and '"replies": [1]' in read
    # a second reply asks again; recording an attempt clears it too
    handle_reply(
        store,
        CIPHER,
        "SM" + "8" * 32,
        PATIENT["phone"],
        "still waiting",
        NOW + timedelta(minutes=5),
    )
    client = client_for(store)
    coord_api = bearer(store, "coord2", Role.COORDINATOR)
    assert client.get(f"/api/v1/cases/{case_id}", headers=coord_api).json()["callback_requested"]
    client.post(
        f"/api/v1/cases/{case_id}/attempts",
        json={"result": "not_located", "method": "phone"},
        headers=coord_api,
    )
    assert not client.get(f"/api/v1/cases/{case_id}", headers=coord_api).json()[
        "callback_requested"
    ]


def test_a_coordinator_assigns_a_case_to_a_member_on_the_case_page(store: Store) -> None:
    case_id = _seed(store)
    signed_in(store, "peer", Role.OUTREACH, "example")
    signed_in(store, "pm", Role.PROGRAM_MANAGER, "example")
    coord = signed_in(store, "coord", Role.COORDINATOR, "example")
    page = coord.get(f"/cases/{case_id}").text
    options = re.findall(
        r'<option value="([a-z]+)"', page.split('id="assign-form"')[1].split("</form>")[0]
    )
    assert "peer" in options and "coord" in options and "pm" not in options  # pm may not own
    done = coord.post(
        f"/cases/{case_id}/assign",
        data={"csrf_token": csrf_of(page), "version": version_of(page), "username": "peer",
              "team_id": "day-east"},
    )  # fmt: skip
    assert "Assigned to peer." in done.text
    assert re.search(r'id="case-owner">peer', done.text)
    peer = signed_in(store, "peer2", Role.OUTREACH, "example")
    assert 'id="assign-form"' not in peer.get(f"/cases/{case_id}").text


def test_the_csv_export_carries_the_visit_record_cut_by_role(store: Store) -> None:
    case_id = _seed(store)
    client = client_for(store)
    coord = bearer(store, "coord", Role.COORDINATOR)
    client.post(
        f"/api/v1/cases/{case_id}/attempts",
        json={"result": "not_located", "method": "materials_left", "people_met": ["family"],
              "barriers": ["housing"], "services": ["naloxone_kit"], "notes": "left a card"},
        headers=coord,
    )  # fmt: skip
    full = client.get("/api/v1/programs/example/export.csv", headers=coord)
    assert full.status_code == 200, full.text
    header, row = full.text.splitlines()[1:3]
    shown = dict(zip(header.split(","), row.split(","), strict=True))
    assert (shown["attempts"], shown["methods"], shown["people_met"]) == (
        "1",
        "materials_left",
        "family",
    )
    assert (shown["barriers"], shown["services"], shown["notes"]) == (
        "housing",
        "naloxone_kit",
        "1: left a card",
    )
    manager = client.get(
        "/api/v1/programs/example/export.csv", headers=bearer(store, "pm", Role.PROGRAM_MANAGER)
    )
    assert "materials_left" in manager.text and "naloxone_kit" in manager.text
    assert "Dana" not in manager.text and "left a card" not in manager.text  # no person, no notes
    detail = client.get(
        f"/api/v1/cases/{case_id}", headers=bearer(store, "pm2", Role.PROGRAM_MANAGER)
    ).json()
    assert detail["attempts"][0]["notes"] is None and detail["attempts"][0]["services"]
    le = bearer(store, "le", Role.LAW_ENFORCEMENT)
    assert client.get("/api/v1/programs/example/export.csv", headers=le).status_code == 403

"""What each role sees of a referral to treatment (SQLite and PostgreSQL): the case's
detail and its page, the person's history and page, the CSV. Law enforcement sees that a
referral was made, its state and dates, never the provider nor the kind of treatment; a
program manager sees all of it but the person. An outcome `contacted_accepted_treatment`
with its referral works as before, and the closed case can still be referred on."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.testclient import TestClient

from schemas.accounts import Role
from services.store.repository import Store
from tests.integration.treatment_support import (
    MOUD,
    Clock,
    Setup,
    client_with_clock,
    provider_key,
    refer,
    report,
    seeded,
)
from tests.support_accounts import bearer

PROVIDER_WORDS = ("harbor", "Harbor", "moud", "Medication for opioid")


def _entered(store: Store, client: TestClient, clock: Clock, staff: dict[str, str]) -> Setup:
    s = seeded(store, client, clock, staff)
    rid = refer(client, s.case_id, MOUD, staff)
    clock.days_later(3)
    assert report(client, rid, provider_key(store, MOUD), "entered", None).status_code == 200
    return s


def _csv(text: str) -> list[dict[str, Any]]:
    return list(csv.DictReader(io.StringIO(text.split("\n", 1)[1])))


def test_each_role_sees_the_referral_as_it_may(store: Store) -> None:
    peer = bearer(store, "peer", Role.OUTREACH)
    police = bearer(store, "officer", Role.LAW_ENFORCEMENT)
    manager = bearer(store, "manager", Role.PROGRAM_MANAGER)
    clock = Clock()
    with client_with_clock(store, clock) as client:
        s = _entered(store, client, clock, peer)
        url = f"/api/v1/cases/{s.case_id}"
        full = client.get(url, headers=peer).json()["treatment"][0]
        assert (full["provider_name"], full["kind"]) == ("Harbor Medication Clinic", "moud")

        seen = client.get(url, headers=police).json()
        (cut,) = seen["treatment"]
        assert (cut["provider_id"], cut["provider_name"], cut["kind"]) == (None, None, None)
        assert cut["id"] == full["id"] and cut["referred_at"] == full["referred_at"]
        assert (cut["state"], cut["entered_at"]) == (None, None)  # not what became of it
        assert full["entered_at"] == "2026-11-25T15:00:00Z"
        assert not any(w in str(seen) for w in PROVIDER_WORDS)
        page = client.get(f"/cases/{s.case_id}", headers=police).text
        assert "Referral to treatment" in page and "Entered" not in page
        assert not any(w in page for w in PROVIDER_WORDS)
        assert 'id="treatment-refer"' not in page and "treatment-move" not in page

        managed = client.get(url, headers=manager).json()
        assert managed["person"] is None and managed["treatment"][0] == full
        manager_page = client.get(f"/cases/{s.case_id}", headers=manager).text
        assert "Harbor Medication Clinic" in manager_page and "Dana" not in manager_page
        assert 'id="treatment-refer"' not in manager_page  # may not record

        peer_page = client.get(f"/cases/{s.case_id}", headers=peer).text
        assert 'id="treatment-refer"' in peer_page and "Riverside Withdrawal" in peer_page
        assert 'value="retained_30d"' in peer_page  # the one move entered allows


def test_the_persons_history_shows_each_referral_cut_by_role(store: Store) -> None:
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    police = bearer(store, "officer", Role.LAW_ENFORCEMENT)
    manager = bearer(store, "manager", Role.PROGRAM_MANAGER)
    clock = Clock()
    with client_with_clock(store, clock) as client:
        s = _entered(store, client, clock, coordinator)
        person_id = client.get(f"/api/v1/cases/{s.case_id}", headers=coordinator).json()[
            "person_id"
        ]
        history = client.get(f"/api/v1/persons/{person_id}", headers=coordinator).json()
        (case,) = [c for c in history["cases"] if c["case_id"] == s.case_id]
        assert case["treatment"][0]["provider_name"] == "Harbor Medication Clinic"
        assert case["treatment"][0]["state"] == "entered"
        page = client.get(f"/persons/{person_id}", headers=coordinator).text
        assert "Harbor Medication Clinic" in page and "Entered 25 Nov 2026" in page

        officer = client.get(f"/api/v1/persons/{person_id}", headers=police).json()
        cut = officer["cases"][0]["treatment"][0]
        assert cut["kind"] is None and cut["provider_id"] is None and cut["entered_at"] is None
        officer_page = client.get(f"/persons/{person_id}", headers=police).text
        assert "Referral to treatment" in officer_page and "Entered" not in officer_page
        assert not any(w in officer_page for w in PROVIDER_WORDS)
        # a program manager sees no person: no history at all
        assert client.get(f"/api/v1/persons/{person_id}", headers=manager).status_code == 404


def test_the_csv_has_the_treatment_columns(store: Store) -> None:
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    manager = bearer(store, "manager", Role.PROGRAM_MANAGER)
    clock = Clock()
    with client_with_clock(store, clock) as client:
        s = _entered(store, client, clock, coordinator)
        rows = {r["case_id"]: r for r in _csv(
            client.get("/api/v1/programs/example/export.csv?status=all", headers=coordinator).text
        )}  # fmt: skip
        managed = _csv(
            client.get("/api/v1/programs/example/export.csv?status=all", headers=manager).text
        )
    row = rows[s.case_id]
    assert (row["treatment_state"], row["treatment_kind"], row["treatment_provider"]) == (
        "entered", "moud", MOUD,
    )  # fmt: skip
    assert row["treatment_referred_at"] == "2026-11-22T15:00:00+00:00"
    assert row["treatment_entered_at"] == "2026-11-25T15:00:00+00:00"
    assert row["treatment_ended_at"] == "" and row["treatment_referrals"] == "1"
    untouched = rows[s.other_case_id]
    assert untouched["treatment_state"] == "" and untouched["treatment_referrals"] == "0"
    by_case = {r["case_id"]: r for r in managed}
    assert (
        by_case[s.case_id]["treatment_state"] == "entered"
        and "first_name" not in by_case[s.case_id]
    )


def test_an_accepted_treatment_outcome_works_as_before(store: Store) -> None:
    peer = bearer(store, "peer", Role.OUTREACH)
    clock = Clock()
    with client_with_clock(store, clock) as client:
        s = seeded(store, client, clock, peer)
        url = f"/api/v1/cases/{s.case_id}"
        closed = client.post(
            f"{url}/outcome",
            json={"outcome": "contacted_accepted_treatment", "referral": "moud"},
            headers=peer,
        )
        assert closed.status_code == 200, closed.text
        detail = client.get(url, headers=peer).json()
        assert (detail["status"], detail["outcome"], detail["referral"]) == (
            "closed", "contacted_accepted_treatment", "moud",
        )  # fmt: skip
        assert detail["treatment"] == []
        # the case is closed; the referral to a provider is followed on all the same
        rid = refer(client, s.case_id, MOUD, peer)
        after = client.get(url, headers=peer).json()
    assert [t["id"] for t in after["treatment"]] == [rid] and after["referral"] == "moud"


def test_staff_refer_and_move_on_from_the_case_page(store: Store) -> None:
    peer = bearer(store, "peer", Role.OUTREACH)
    police = bearer(store, "officer", Role.LAW_ENFORCEMENT)
    clock = Clock()
    with client_with_clock(store, clock) as client:
        s = seeded(store, client, clock, peer)
        form = f"/cases/{s.case_id}/treatment-referrals"
        done = client.post(form, data={"provider_id": MOUD}, headers=peer, follow_redirects=False)
        assert done.status_code == 303 and "Referred+to+Harbor" in done.headers["location"]
        again = client.post(form, data={"provider_id": MOUD}, headers=peer, follow_redirects=False)
        assert "already+referred" in again.headers["location"]  # said on the page, in words
        assert client.post(form, data={"provider_id": MOUD}, headers=police).status_code == 403
        rid = client.get(f"/api/v1/cases/{s.case_id}", headers=peer).json()["treatment"][0]["id"]
        clock.days_later(1)
        move = f"/treatment-referrals/{rid}/status"
        when = {"state": "entered", "at": "2026-11-23T09:30"}  # the program's zone (New York)
        moved = client.post(move, data=when, headers=peer, follow_redirects=False)
        assert moved.status_code == 303 and moved.headers["location"].startswith(
            f"/cases/{s.case_id}?message=Treatment"
        )
        shown = client.get(f"/api/v1/cases/{s.case_id}", headers=peer).json()["treatment"][0]
        assert shown["entered_at"] == "2026-11-23T14:30:00Z"
        refused = client.post(move, data={"state": "retained_30d"}, headers=peer)
        assert "needs 30 days in treatment" in refused.text  # the case page, with the reason
        assert client.post(move, data={"state": "entered"}, headers=police).status_code == 403
        gone = client.post("/treatment-referrals/nope/status", data=when, headers=peer)
        assert gone.status_code == 404

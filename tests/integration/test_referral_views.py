"""What each role sees of a referral, through the API and the pages, on a real store
(SQLite and PostgreSQL): the referral's kind and urgency are cut like clinical facts, who
referred (a tel: link on the case page) and where to find the person like the person,
the notes unless both are seen; every read of the referrer is named in the case's
`case_read` audit row; the queue, the CSV, the person's page and the live stream know
referrals."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sqlalchemy import select

from schemas.accounts import Role
from services.accounts.redaction import redact
from services.accounts.roles import Principal
from services.cases.opening import open_cases
from services.programs import load_programs
from services.store.repository import Store
from services.store.tables import audit_log, events
from tests.integration.referral_support import MOTHER, ROWAN, referral
from tests.integration.test_case_store import CIPHER
from tests.integration.test_queue_api import NOW, client_for
from tests.integration.test_web_pages import signed_in
from tests.support_accounts import bearer
from tests.support_store import unpublished_case_events

PROGRAMS = load_programs(None)
NOTES = "she asked us not to come before noon"
WHERE = "the laundromat on 8th St"


def _family_referral(store: Store) -> tuple[str, str]:
    made = referral(
        PROGRAMS, NOW, kind="family", urgency="today", referrer=MOTHER, notes=NOTES,
        person={**ROWAN, "where": WHERE}, consent={"visit": True},
    )  # fmt: skip
    assert open_cases(store, [made], PROGRAMS, NOW, CIPHER).opened == 1
    with store.engine.connect() as conn:
        case_id = conn.execute(
            select(events.c.case_id).where(events.c.event_id == made.event.event_id)
        ).scalar_one()
    return str(case_id), made.event.event_id


def _case_reads(store: Store, actor: str) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.detail).where(
                audit_log.c.action == "case_read", audit_log.c.actor == actor
            )
        ).all()
    return [json.loads(r.detail) for r in rows]


def test_each_role_sees_its_cut_of_the_referral_and_the_read_is_audited(store: Store) -> None:
    case_id, referral_id = _family_referral(store)
    client = client_for(store)
    seen: dict[Role, dict[str, Any]] = {}
    for role in (Role.COORDINATOR, Role.OUTREACH, Role.LAW_ENFORCEMENT, Role.PROGRAM_MANAGER):
        answer = client.get(f"/api/v1/cases/{case_id}", headers=bearer(store, role.value, role))
        assert answer.status_code == 200, answer.text
        detail = answer.json()
        assert detail["kind"] == "referral"
        (seen[role],) = detail["referrals"]
        seen[role]["referral_kind"] = detail["referral_kind"]
    full = seen[Role.COORDINATOR]
    assert full == seen[Role.OUTREACH]
    assert (full["kind"], full["urgency"], full["referral_kind"]) == ("family", "today", "family")
    assert (full["referrer_name"], full["referrer_relation"], full["referrer_phone"]) == (
        MOTHER["name"], "mother", MOTHER["phone"],
    )  # fmt: skip
    assert (full["where"], full["notes"], full["consent_visit"]) == (WHERE, NOTES, True)
    police = seen[Role.LAW_ENFORCEMENT]  # sees who referred, not of what kind, nor the notes
    assert (police["kind"], police["urgency"], police["referral_kind"], police["notes"]) == (
        None, None, None, None,
    )  # fmt: skip
    assert (police["referrer_phone"], police["where"]) == (MOTHER["phone"], WHERE)
    manager = seen[Role.PROGRAM_MANAGER]  # the kind, never who referred or where
    assert (manager["kind"], manager["urgency"]) == ("family", "today")
    assert [manager[k] for k in ("referrer_name", "referrer_phone", "where", "notes")] == [None] * 4
    assert all(seen[r]["referral_id"] == referral_id for r in seen)
    for role, named in (
        (Role.COORDINATOR, [referral_id]), (Role.LAW_ENFORCEMENT, [referral_id]),
        (Role.PROGRAM_MANAGER, []),
    ):  # fmt: skip
        assert [r["referrers"] for r in _case_reads(store, f"user:{role.value}")] == [named]


def test_the_case_page_shows_the_referrer_as_a_tel_link_only_to_roles_with_identities(
    store: Store,
) -> None:
    case_id, _ = _family_referral(store)
    tel = f'href="tel:{MOTHER["phone"]}"'
    coordinator = signed_in(store, "coord", Role.COORDINATOR, "example").get(f"/cases/{case_id}")
    assert coordinator.status_code == 200
    page = coordinator.text
    assert 'id="referrals"' in page and "Family" in page and "Today" in page
    assert tel in page and MOTHER["name"] in page and NOTES in page and WHERE in page
    police = signed_in(store, "officer", Role.LAW_ENFORCEMENT, "example").get(f"/cases/{case_id}")
    assert tel in police.text and NOTES not in police.text and "Today" not in police.text
    manager = signed_in(store, "pm", Role.PROGRAM_MANAGER, "example").get(f"/cases/{case_id}")
    assert 'id="referrals"' in manager.text and "Family" in manager.text
    assert tel not in manager.text and MOTHER["name"] not in manager.text
    assert MOTHER["phone"] not in manager.text and WHERE not in manager.text


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO("\n".join(text.splitlines()[1:]))))


def test_the_queue_csv_person_page_and_live_stream_know_referrals(store: Store) -> None:
    case_id, _ = _family_referral(store)
    client = client_for(store)
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    police = bearer(store, "officer", Role.LAW_ENFORCEMENT)
    (row,) = client.get("/api/v1/programs/example/queue", headers=coordinator).json()["items"]
    assert (row["kind"], row["referral_kind"]) == ("referral", "family")
    (cut,) = client.get("/api/v1/programs/example/queue", headers=police).json()["items"]
    assert (cut["kind"], cut["referral_kind"]) == ("referral", None)
    page = signed_in(store, "peer", Role.OUTREACH, "example").get("/programs/example/queue")
    assert 'class="reason kind">Family<' in page.text
    (line,) = _csv(client.get("/api/v1/programs/example/export.csv", headers=coordinator).text)
    assert (line["case_kind"], line["referral_kind"]) == ("referral", "family")
    pm = bearer(store, "pm", Role.PROGRAM_MANAGER)
    (counted,) = _csv(client.get("/api/v1/programs/example/export.csv", headers=pm).text)
    assert counted["referral_kind"] == "family" and "first_name" not in counted
    assert MOTHER["phone"] not in json.dumps(counted)
    person_id = row["person_id"]
    history = client.get(f"/api/v1/persons/{person_id}", headers=coordinator).json()
    assert history["overdoses"] == []  # a referral is never an overdose
    assert [(c["kind"], c["referral_kind"]) for c in history["cases"]] == [("referral", "family")]
    theirs = client.get(f"/api/v1/persons/{person_id}", headers=police).json()
    assert [(c["kind"], c["referral_kind"]) for c in theirs["cases"]] == [("referral", None)]
    (opened,) = [e for e in unpublished_case_events(store) if e.event.case_id == case_id]
    live = opened.event.model_dump(mode="json")
    who = {r: Principal("u", "u", {"example": r}) for r in (Role.OUTREACH, Role.LAW_ENFORCEMENT)}
    assert redact(live, who[Role.OUTREACH], "example")["detail"]["referral_kind"] == "family"
    assert "referral_kind" not in redact(live, who[Role.LAW_ENFORCEMENT], "example")["detail"]

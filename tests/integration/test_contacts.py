"""The contacts of a case through the API on a real store (SQLite and PostgreSQL): added
and removed, listed in the case's detail as each role may see them, sealed at rest,
audited, re-sealed by `qrt keys rotate`, and the visit attempts made to them."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import String, Text, select

from schemas.accounts import Role
from services.cases.family_support import sweep_family_support
from services.cases.opening import open_cases
from services.crypto.fields import FieldCipher, SealedValueError
from services.crypto.keys import keyring_from_text, new_key_text
from services.crypto.rotation import rotate
from services.programs import load_programs
from services.store.contact_records import contact_aad, open_contact
from services.store.repository import Store
from services.store.tables import audit_log, case_contacts, events, metadata, sms_consents
from tests.integration.test_case_store import CIPHER, record
from tests.integration.test_queue_api import NOW, PATIENT, _case_with_patient, client_for, seed
from tests.integration.test_web_pages import csrf_of, patient_case, signed_in, version_of
from tests.support_accounts import bearer

SISTER = {"name": "Jolene Vasquez-Arbuckle", "relation": "family", "phone": "(304) 555-0177"}
SECRETS = ["Jolene", "Vasquez-Arbuckle", "3045550177", "555-0177"]


def _add(client: TestClient, case_id: str, headers: dict[str, str], **body: Any) -> Any:
    return client.post(f"/api/v1/cases/{case_id}/contacts", json=body, headers=headers)


def _audit(store: Store, action: str) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(audit_log.c.detail).where(audit_log.c.action == action))
        return [json.loads(r.detail) for r in rows]


def test_a_contact_is_added_listed_by_role_and_removed(store: Store) -> None:
    seed(store)
    peer = bearer(store, "peer", Role.OUTREACH)
    police = bearer(store, "officer", Role.LAW_ENFORCEMENT)
    manager = bearer(store, "manager", Role.PROGRAM_MANAGER)
    stranger = bearer(store, "elsewhere", Role.COORDINATOR, "another")
    with client_for(store) as client:
        case_id = _case_with_patient(client, peer)
        version = client.get(f"/api/v1/cases/{case_id}", headers=peer).json()["version"]
        added = _add(client, case_id, peer, **SISTER, sms_consent=True)
        assert added.status_code == 201, added.text
        assert added.json()["version"] == version + 1
        assert added.headers["ETag"] == f'"{version + 1}"'
        contact_id = added.json()["contact_id"]

        mine = client.get(f"/api/v1/cases/{case_id}", headers=peer).json()
        assert mine["contacts"] == [
            {
                "id": contact_id, "relation": "family", "name": "Jolene Vasquez-Arbuckle",
                "phone": "+13045550177", "sms_consent": True,
                "created_at": mine["contacts"][0]["created_at"],
            }
        ]  # fmt: skip
        assert mine["contacts_count"] == 1 and mine["contact_needed"] is False
        officer = client.get(f"/api/v1/cases/{case_id}", headers=police).json()
        assert [(c["name"], c["phone"]) for c in officer["contacts"]] == [
            ("Jolene Vasquez-Arbuckle", "+13045550177")
        ]
        managed = client.get(f"/api/v1/cases/{case_id}", headers=manager).json()
        assert managed["contacts"] == [] and managed["contacts_count"] == 1
        assert not any(s in json.dumps(managed) for s in SECRETS), "how many, not who"
        assert "family" not in json.dumps(managed["contacts"])
        export = client.get("/api/v1/programs/example/export.csv", headers=manager).text
        header, *lines = export.splitlines()[1:]
        rows = [dict(zip(header.split(","), line.split(","), strict=True)) for line in lines]
        assert {r["case_id"]: r["contacts"] for r in rows}[case_id] == "1"
        assert not any(s in export for s in SECRETS), "the CSV counts contacts, never names them"

        # who may not: a program manager (no record), another program's member (404)
        assert _add(client, case_id, manager, **SISTER).status_code == 403
        assert _add(client, case_id, stranger, **SISTER).status_code == 404
        # what is refused: no phone number, consent without a phone, a stale version
        assert (
            _add(client, case_id, peer, **{**SISTER, "phone": "call the shop"}).status_code == 422
        )
        no_phone = _add(client, case_id, peer, name="Kit", relation="friend", sms_consent=True)
        assert no_phone.status_code == 422 and "phone" in no_phone.json()["detail"]
        stale = client.post(
            f"/api/v1/cases/{case_id}/contacts", json=SISTER,
            headers={**peer, "If-Match": f'"{version}"'},
        )  # fmt: skip
        assert stale.status_code == 412
        assert _add(client, case_id, peer, name="Kit", relation="cousin").status_code == 422

        url = f"/api/v1/cases/{case_id}/contacts/{contact_id}"
        assert client.delete(url, headers=manager).status_code == 403
        removed = client.delete(url, headers=police)
        assert removed.status_code == 200 and removed.json()["removed"] is True
        assert client.get(f"/api/v1/cases/{case_id}", headers=peer).json()["contacts"] == []
        assert client.delete(url, headers=police).status_code == 404, "already removed"
        assert client.delete(f"{url}0", headers=police).status_code == 404

    added_rows = _audit(store, "contact_added")
    assert added_rows == [
        {"contact_id": contact_id, "relation": "family", "phone": True, "sms_consent": True}
    ]
    assert _audit(store, "contact_removed") == [{"contact_id": contact_id, "texts_cancelled": 0}]
    assert {"contacts": [contact_id]} in _audit(store, "contacts_read")
    with store.engine.connect() as conn:
        given = conn.execute(select(sms_consents).where(sms_consents.c.case_id == case_id)).all()
    assert [(g.granted, g.source) for g in given] == [(True, "visit")], "their own consent"


def test_contacts_are_sealed_at_rest_and_rotation_reseals_them(store: Store) -> None:
    seed(store)
    peer = bearer(store, "peer", Role.OUTREACH)
    with client_for(store) as client:
        case_id = _case_with_patient(client, peer)
        assert _add(client, case_id, peer, **SISTER).status_code == 201
    texts: list[str] = []
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            for row in conn.execute(select(*columns)) if columns else []:
                texts.extend(str(v) for v in row if v is not None)
        (row,) = conn.execute(select(case_contacts)).all()
    blob = "\n".join(texts)
    assert [s for s in SECRETS if s in blob] == [], "no name or number in the clear"
    if store.engine.dialect.name == "sqlite":  # the file itself, indexes and log included
        store.dispose()  # checkpoints the WAL into the file
        path = Path(str(store.engine.url.database))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert [s for s in SECRETS if s.encode() in raw] == [] and b"v1." in raw
    assert row.contact_sealed.startswith(f"v1.{CIPHER.keyring.primary}.")
    assert row.phone_token and row.phone_token not in ("+13045550177", "3045550177")
    assert open_contact(CIPHER, row.id, row.contact_sealed).name == "Jolene Vasquez-Arbuckle"
    try:  # bound to its row: it does not open as another row's
        CIPHER.open(row.contact_sealed, contact_aad(row.id + 1))
        raise AssertionError("a contact opened under another row's associated data")
    except SealedValueError:
        pass

    old_id = CIPHER.keyring.primary
    old_text = f"{old_id}:{base64.b64encode(CIPHER.keyring.data_keys[old_id]).decode()}"
    index = base64.b64encode(b"x" * 32).decode()
    both = FieldCipher(keyring_from_text(f"{new_key_text('fresh')},{old_text}", index))
    said: list[str] = []
    rotate(store, both, reindex=False, say=said.append)
    assert "case_contacts: 1 value(s) re-sealed under key fresh" in said
    new_only = FieldCipher(
        keyring_from_text(f"fresh:{base64.b64encode(both.keyring.data_keys['fresh']).decode()}",
                          index)
    )  # fmt: skip
    with store.engine.connect() as conn:
        (row,) = conn.execute(select(case_contacts)).all()
    assert FieldCipher.key_id_of(row.contact_sealed) == "fresh"
    assert open_contact(new_only, row.id, row.contact_sealed).phone == "+13045550177"
    assert rotate(store, both, reindex=False, say=said.append).resealed == 0, "idempotent"


def test_an_attempt_made_to_a_contact(store: Store) -> None:
    seed(store)
    peer = bearer(store, "peer", Role.OUTREACH)
    manager = bearer(store, "manager", Role.PROGRAM_MANAGER)
    with client_for(store) as client:
        case_id = _case_with_patient(client, peer)
        contact_id = _add(client, case_id, peer, **SISTER).json()["contact_id"]
        url = f"/api/v1/cases/{case_id}/attempts"
        made = client.post(
            url, json={"result": "not_located", "method": "phone", "contact_id": contact_id},
            headers=peer,
        )  # fmt: skip
        assert made.status_code == 201, made.text
        client_only = client.post(url, json={"result": "not_located"}, headers=peer)
        assert client_only.status_code == 201
        unknown = client.post(
            url, json={"result": "not_located", "contact_id": contact_id + 50}, headers=peer
        )
        assert unknown.status_code == 422 and "no contact" in unknown.json()["detail"]
        detail = client.get(f"/api/v1/cases/{case_id}", headers=peer).json()
        assert [a["contact_id"] for a in detail["attempts"]] == [contact_id, None]
        seen = client.get(f"/api/v1/cases/{case_id}", headers=manager).json()
        assert [a["contact_id"] for a in seen["attempts"]] == [contact_id, None]
        client.delete(f"/api/v1/cases/{case_id}/contacts/{contact_id}", headers=peer)
        gone = client.post(
            url, json={"result": "not_located", "contact_id": contact_id}, headers=peer
        )
        assert gone.status_code == 422, "a removed contact takes no attempt"
    recorded = _audit(store, "attempt_recorded")
    assert [r["contact_id"] for r in recorded] == [contact_id, None]


def test_a_family_case_through_the_api_and_its_flag_in_the_queue(store: Store) -> None:
    seed(store)
    peer = bearer(store, "peer", Role.OUTREACH)
    police = bearer(store, "officer", Role.LAW_ENFORCEMENT)
    fatal = record("f", patient=PATIENT, fatal=True, occurred_at="2026-11-22T14:00:00+00:00")
    open_cases(store, [fatal], load_programs(None), NOW, CIPHER)
    assert sweep_family_support(store, load_programs(None), CIPHER, NOW) == 1
    with client_for(store) as client:
        items = client.get("/api/v1/programs/example/queue", headers=peer).json()["items"]
        (family,) = [i for i in items if i["kind"] == "family_support"]
        assert family["contact_needed"] is True and family["tier"] == "family_support"
        assert family["person_id"] is None and items[-1] == family, "below the survivors"
        url = f"/api/v1/cases/{family['case_id']}"
        detail = client.get(url, headers=peer).json()
        with store.engine.connect() as conn:
            person_id = conn.execute(
                select(events.c.person_id).where(events.c.event_id == "f")
            ).scalar_one()
        assert (detail["contact_needed"], detail["contacts_count"]) == (True, 0)
        assert detail["deceased_person_id"] == person_id
        assert detail["window_opens_at"] == "2026-11-29T14:00:00Z"
        assert detail["window_due_at"] == "2026-12-22T14:00:00Z"
        assert client.get(url, headers=police).json()["tier"] == "follow-up"
        person = client.get(f"/api/v1/persons/{person_id}", headers=peer).json()
        assert person["family_case_id"] == family["case_id"], "the person's page links it"
        why = client.get("/api/v1/programs/example/queue?include=tier_reason", headers=peer).json()[
            "items"
        ]
        assert [i["tier_reason"] for i in why if i["kind"] == "family_support"] == [
            "family support after a death on 11/22"
        ]
        assert _add(client, family["case_id"], police, **SISTER).status_code == 201
        items = client.get("/api/v1/programs/example/queue", headers=peer).json()["items"]
        assert [i["contact_needed"] for i in items if i["kind"] == "family_support"] == [False]


def test_the_case_page_lists_contacts_as_each_role_may_see_them(store: Store) -> None:
    seed(store)
    case_id = patient_case(store)
    peer = signed_in(store, "peer", Role.OUTREACH)
    page = peer.get(f"/cases/{case_id}")
    assert 'id="contact-form"' in page.text and "None known." in page.text
    added = peer.post(
        f"/cases/{case_id}/contacts",
        data={**SISTER, "sms_consent": "true", "csrf_token": csrf_of(page.text),
              "version": version_of(page.text)},
        follow_redirects=False,
    )  # fmt: skip
    assert (
        added.status_code == 303
        and "Contact+Jolene+Vasquez-Arbuckle+added" in (added.headers["location"])
    )
    page = peer.get(f"/cases/{case_id}")
    assert 'href="tel:+13045550177"' in page.text and "Jolene Vasquez-Arbuckle" in page.text
    assert "agreed to texts" in page.text and 'id="attempt-contact"' in page.text
    refused = peer.post(
        f"/cases/{case_id}/contacts",
        data={"name": "", "relation": "family", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert refused.status_code == 303 and "error=" in refused.headers["location"]

    manager = signed_in(store, "manager", Role.PROGRAM_MANAGER)
    seen = manager.get(f"/cases/{case_id}").text
    assert "1 contact known." in seen and "tel:+13045550177" not in seen
    assert not any(s in seen for s in SECRETS) and 'id="contact-form"' not in seen

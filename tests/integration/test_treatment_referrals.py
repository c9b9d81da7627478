"""Referrals to treatment that is confirmed, through the API on a real store (SQLite and
PostgreSQL): staff refer a case's client to a provider of the program; the provider,
with its own key, sees the referrals made to it (the minimum necessary) and moves them
on, never another provider's; only forward moves; every change and provider read
audited; a revoked key refused."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from schemas.accounts import Role
from services.cli import main
from services.store.provider_keys import revoke_key
from services.store.repository import Store
from services.store.tables import audit_log, treatment_referrals
from tests.integration.test_queue_api import NOW
from tests.integration.treatment_support import (
    DETOX,
    MOUD,
    Clock,
    client_with_clock,
    provider_key,
    refer,
    report,
    seeded,
    staff_set,
)
from tests.support_accounts import bearer

MINIMUM = {
    "id", "state", "referred_at", "entered_at", "retained_30d_at", "retained_90d_at",
    "ended_at", "first_name", "dob",
}  # fmt: skip


def test_a_provider_moves_its_own_referral_and_no_other(store: Store) -> None:
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    clock = Clock()
    with client_with_clock(store, clock) as client:
        s = seeded(store, client, clock, coordinator)
        moud_key, detox_key = provider_key(store, MOUD), provider_key(store, DETOX)
        to_moud = refer(client, s.case_id, MOUD, coordinator)
        to_detox = refer(client, s.other_case_id, DETOX, coordinator)
        assert (
            client.get(f"/api/v1/cases/{s.case_id}", headers=coordinator).json()["treatment"][0][
                "state"
            ]
            == "referred"
        )

        entered_at = clock.days_later(2)
        # another provider's referral does not exist for this key, whatever it asks
        for key, other in ((detox_key, to_moud), (moud_key, to_detox)):
            assert report(client, other, key, "entered", None).status_code == 404
        assert report(client, "no-such-referral", moud_key, "entered", None).status_code == 404
        moved = report(client, to_moud, moud_key, "entered", None)
        assert moved.status_code == 200, moved.text
        assert moved.json() == {"id": to_moud, "state": "entered", "changed": True}

        shown = client.get(f"/api/v1/cases/{s.case_id}", headers=coordinator).json()
        (referral,) = shown["treatment"]
        assert referral["state"] == "entered" and referral["entered_at"] == "2026-11-24T15:00:00Z"
        assert referral["provider_id"] == MOUD
        assert referral["provider_name"] == "Harbor Medication Clinic"
        assert referral["kind"] == "moud" and referral["referred_at"] == "2026-11-22T15:00:00Z"
        page = client.get(f"/cases/{s.case_id}", headers=coordinator)
        assert page.status_code == 200
        assert "Entered 24 Nov 2026" in page.text and "Harbor Medication Clinic" in page.text
        # the detox referral was never touched
        other = client.get(f"/api/v1/cases/{s.other_case_id}", headers=coordinator).json()
        assert other["treatment"][0]["state"] == "referred"
        assert other["treatment"][0]["entered_at"] is None
    assert entered_at == NOW + timedelta(days=2)


def test_only_forward_moves_each_with_its_date(store: Store) -> None:
    peer = bearer(store, "peer", Role.OUTREACH)
    clock = Clock()
    with client_with_clock(store, clock) as client:
        s = seeded(store, client, clock, peer)
        key = provider_key(store, MOUD)
        rid = refer(client, s.case_id, MOUD, peer)
        skip = report(client, rid, key, "retained_30d", None)
        assert skip.status_code == 409
        assert "from referred only to entered or declined or no show" in skip.json()["detail"]
        future = staff_set(client, rid, peer, "entered", NOW + timedelta(days=1))
        assert future.status_code == 409 and "in the future" in future.json()["detail"]
        early = staff_set(client, rid, peer, "entered", NOW - timedelta(days=1))
        assert early.status_code == 409 and "before it was referred" in early.json()["detail"]
        naive = staff_set(client, rid, peer, "entered", None)  # the staff's own move, now
        assert naive.status_code == 200 and naive.json()["changed"] is True
        again = report(client, rid, key, "entered", None)  # a provider's retry: no error
        assert again.status_code == 200 and again.json()["changed"] is False
        back = report(client, rid, key, "declined", None)
        assert back.status_code == 409 and "from entered only to retained 30d" in back.text

        clock.days_later(29)
        soon = report(client, rid, key, "retained_30d", None)
        assert soon.status_code == 409 and "needs 30 days in treatment" in soon.json()["detail"]
        at_30 = clock.days_later(2)
        assert report(client, rid, key, "retained_30d", None).json()["changed"] is True
        clock.days_later(70)
        assert staff_set(client, rid, peer, "retained_90d", None).status_code == 200
        final = report(client, rid, key, "no_show", None)
        assert final.status_code == 409 and "retained 90d is final" in final.json()["detail"]
        assert report(client, rid, key, "gone", None).status_code == 422
        # a referral that ended: declined is final too
        rid2 = refer(client, s.other_case_id, MOUD, peer)
        assert report(client, rid2, key, "declined", None).json()["changed"] is True
        assert report(client, rid2, key, "entered", None).status_code == 409
        shown = client.get(f"/api/v1/cases/{s.case_id}", headers=peer).json()["treatment"][0]
    assert shown["state"] == "retained_90d"
    assert shown["retained_30d_at"] == at_30.isoformat().replace("+00:00", "Z")
    assert shown["entered_at"] == "2026-11-22T15:00:00Z" and shown["retained_90d_at"]
    with store.engine.connect() as conn:
        ended = conn.execute(
            select(treatment_referrals.c.state, treatment_referrals.c.ended_at).where(
                treatment_referrals.c.id == rid2
            )
        ).one()
    assert ended.state == "declined" and ended.ended_at is not None


def test_who_may_refer_and_to_whom(store: Store) -> None:
    peer = bearer(store, "peer", Role.OUTREACH)
    police = bearer(store, "officer", Role.LAW_ENFORCEMENT)
    manager = bearer(store, "manager", Role.PROGRAM_MANAGER)
    stranger = bearer(store, "elsewhere", Role.COORDINATOR, "another")
    clock = Clock()
    with client_with_clock(store, clock) as client:
        s = seeded(store, client, clock, peer)
        url = f"/api/v1/cases/{s.case_id}/treatment-referrals"
        unknown = client.post(url, json={"provider_id": "nowhere"}, headers=peer)
        assert unknown.status_code == 422 and "harbor-moud" in unknown.json()["detail"]
        for who in (police, manager):  # no clinical sight / may not record
            assert client.post(url, json={"provider_id": MOUD}, headers=who).status_code == 403
        assert client.post(url, json={"provider_id": MOUD}, headers=stranger).status_code == 404
        rid = refer(client, s.case_id, MOUD, peer)
        twice = client.post(url, json={"provider_id": MOUD}, headers=peer)
        assert twice.status_code == 409 and "already referred" in twice.json()["detail"]
        assert refer(client, s.case_id, DETOX, peer) != rid  # another provider: a new one
        for who, status in ((police, 403), (manager, 403), (stranger, 404)):
            assert staff_set(client, rid, who, "entered", None).status_code == status
        # staff tokens are no provider keys, and provider keys no staff tokens
        assert report(client, rid, peer, "entered", None).status_code == 401
        key = provider_key(store, MOUD)
        assert staff_set(client, rid, key, "entered", None).status_code == 401
        assert client.get(f"/api/v1/cases/{s.case_id}", headers=key).status_code == 401


def test_revoked_and_unknown_keys_are_refused(store: Store) -> None:
    peer = bearer(store, "peer", Role.OUTREACH)
    clock = Clock()
    with client_with_clock(store, clock) as client:
        s = seeded(store, client, clock, peer)
        key = provider_key(store, MOUD)
        rid = refer(client, s.case_id, MOUD, peer)
        assert client.get("/api/v1/treatment-referrals", headers=key).status_code == 200
        token = key["Authorization"].removeprefix("Bearer ")
        key_id = hashlib.sha256(token.encode()).hexdigest()[:12]  # as `qrt provider keys` says
        revoked = revoke_key(store, key_id, now=NOW, actor="cli")
        assert revoked is not None and revoked.provider_id == MOUD
        for answer in (
            client.get("/api/v1/treatment-referrals", headers=key),
            report(client, rid, key, "entered", None),
        ):
            assert answer.status_code == 401 and "WWW-Authenticate" in answer.headers
        assert client.get("/api/v1/treatment-referrals").status_code == 401
        forged = {"Authorization": "Bearer qrtp_not-a-key"}
        assert client.get("/api/v1/treatment-referrals", headers=forged).status_code == 401
        # a key of a provider the program does not list (any more) speaks for nobody
        unlisted = provider_key(store, "closed-clinic")
        assert client.get("/api/v1/treatment-referrals", headers=unlisted).status_code == 401
        state = client.get(f"/api/v1/cases/{s.case_id}", headers=peer).json()["treatment"]
    assert state[0]["state"] == "referred"


def test_a_provider_sees_the_minimum_necessary(store: Store) -> None:
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    clock = Clock()
    with client_with_clock(store, clock) as client:
        s = seeded(store, client, clock, coordinator)
        key, other = provider_key(store, MOUD), provider_key(store, DETOX)
        mine = refer(client, s.case_id, MOUD, coordinator)
        clock.days_later(1)
        nameless = refer(client, s.other_case_id, MOUD, coordinator)
        refer(client, s.case_id, DETOX, coordinator)
        listed = client.get("/api/v1/treatment-referrals", headers=key)
        assert listed.status_code == 200
        body = listed.json()
        assert body["total"] == 2 and [r["id"] for r in body["items"]] == [nameless, mine]
        assert all(set(r) == MINIMUM for r in body["items"])
        dana = body["items"][1]
        assert (dana["first_name"], dana["dob"], dana["state"]) == (
            "Dana",
            "1990-04-01",
            "referred",
        )
        assert body["items"][0]["first_name"] is None  # the report named nobody
        text = listed.text
        for never in ("Example", "+1304", "Huntington", "Test St", s.case_id, "moud", "fentanyl"):
            assert never not in text
        assert client.get("/api/v1/treatment-referrals", headers=other).json()["total"] == 1
        report(client, mine, key, "entered", None)
        entered = client.get("/api/v1/treatment-referrals?state=entered", headers=key).json()
        assert [r["id"] for r in entered["items"]] == [mine] and entered["items"][0]["entered_at"]
        paged = client.get("/api/v1/treatment-referrals?limit=1&offset=1", headers=key).json()
        assert paged["total"] == 2 and [r["id"] for r in paged["items"]] == [mine]


def test_every_change_and_every_provider_read_is_audited(store: Store) -> None:
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    clock = Clock()
    with client_with_clock(store, clock) as client:
        s = seeded(store, client, clock, coordinator)
        key = provider_key(store, MOUD)
        rid = refer(client, s.case_id, MOUD, coordinator)
        client.get("/api/v1/treatment-referrals", headers=key)
        clock.days_later(1)
        report(client, rid, key, "entered", None)
        report(client, rid, key, "entered", None)  # no change: no row
        report(client, rid, key, "declined", None)  # refused: no row
        clock.days_later(31)
        staff_set(client, rid, coordinator, "retained_30d", None)
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.subject_id,
                   audit_log.c.detail)
            .where(audit_log.c.action.in_(
                ["treatment_referred", "treatment_status", "provider_referrals_read",
                 "provider_key_created"]))
            .order_by(audit_log.c.id)
        ).all()  # fmt: skip
    seen = [(r.actor, r.action, json.loads(r.detail)) for r in rows]
    assert [(a, b) for a, b, _ in seen] == [
        ("cli", "provider_key_created"),
        ("user:coord", "treatment_referred"),
        (f"provider:{MOUD}", "provider_referrals_read"),
        (f"provider:{MOUD}", "treatment_status"),
        ("user:coord", "treatment_status"),
    ]
    assert seen[1][2] == {"case": s.case_id, "provider": MOUD, "kind": "moud"}
    assert seen[2][2] == {"program": "example", "referrals": [rid]}
    assert {k: seen[3][2][k] for k in ("case", "from", "to")} == {
        "case": s.case_id, "from": "referred", "to": "entered",
    }  # fmt: skip
    assert seen[4][2]["from"] == "entered" and seen[4][2]["to"] == "retained_30d"
    assert all(r.subject_id == rid for r in rows if r.action == "treatment_status")
    assert "Dana" not in str(seen) and "1990" not in str(seen)


def test_qrt_provider_makes_and_revokes_a_key(
    store: Store,
    database_url: str,
    tmp_path: object,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QRT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["provider", "create-key", "nowhere", "--program", "example"]) == 2
    assert "harbor-moud" in capsys.readouterr().err
    assert main(["provider", "create-key", MOUD, "--program", "example"]) == 0
    said = capsys.readouterr().out.strip().splitlines()
    assert "shown once" in said[0] and said[1].startswith("qrtp_")
    key = {"Authorization": f"Bearer {said[1]}"}
    with client_with_clock(store, Clock()) as client:
        assert client.get("/api/v1/treatment-referrals", headers=key).json()["total"] == 0
        assert main(["provider", "keys", "--program", "example"]) == 0
        listed = capsys.readouterr().out
        assert "1 key(s)" in listed and MOUD in listed and "active" in listed
        assert said[1] not in listed  # the key itself is never shown again
        key_id = listed.splitlines()[1].split()[0]
        assert main(["provider", "revoke-key", key_id]) == 0
        assert f"key {key_id} of provider {MOUD} (example) revoked" in capsys.readouterr().out
        assert client.get("/api/v1/treatment-referrals", headers=key).status_code == 401
        assert main(["provider", "revoke-key", key_id]) == 1
    assert main(["provider", "list", "--program", "example"]) == 0
    assert "Riverside Withdrawal Management" in capsys.readouterr().out

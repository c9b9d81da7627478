"""The work-queue API with roles, on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from schemas.accounts import Role
from services.api.app import create_app
from services.bootstrap import bootstrap
from services.cases.opening import open_cases
from services.programs import load_programs
from services.settings import Settings
from services.store.repository import Store
from services.store.tables import audit_log
from tests.integration.test_case_store import CIPHER, record
from tests.support_accounts import PASSWORD, bearer

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
PATIENT = {
    "first_name": "Dana",
    "last_name": "Example",
    "dob": "1990-04-01",
    "phone": "+13045550142",
    "address": {"address": "1 Test St", "city": "Huntington", "state": "WV", "zip": "25701"},
}


def client_for(store: Store, **values: object) -> TestClient:
    settings = Settings(**values)  # type: ignore[arg-type]
    ctx = bootstrap(settings, store=store, cipher=CIPHER, clock=lambda: NOW)
    return TestClient(create_app(settings, ctx=ctx))


def seed(store: Store) -> None:
    open_cases(
        store,
        [
            record("b", occurred_at="2026-11-22T09:00:00+00:00"),
            record(
                "a",
                patient=PATIENT,
                suspected_substances=["fentanyl"],
                disposition="transported",
                naloxone={"administered": True, "doses": 2},
            ),
        ],
        load_programs(None),
        NOW,
        CIPHER,
    )


def test_queue_needs_a_signed_in_member(store: Store) -> None:
    seed(store)
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    stranger = bearer(store, "elsewhere", Role.COORDINATOR, "another")
    with client_for(store) as client:
        assert client.get("/api/v1/programs/example/queue").status_code == 401
        bad = client.get("/api/v1/programs/example/queue", headers={"Authorization": "Bearer x"})
        assert bad.status_code == 401 and "WWW-Authenticate" in bad.headers
        page = client.get("/api/v1/programs/example/queue", headers=coordinator).json()
        assert page["total"] == 2
        assert [row["events"][0]["event_id"] for row in page["items"]] == ["b", "a"]
        assert page["items"][0]["window_due_at"] == "2026-11-25T09:00:00Z"
        assert "first_name" not in str(page)  # the queue carries no personal data
        # another program's member: the program does not exist for them
        assert client.get("/api/v1/programs/example/queue", headers=stranger).status_code == 404
        case_id = page["items"][0]["case_id"]
        assert client.get(f"/api/v1/cases/{case_id}", headers=stranger).status_code == 404
        assert (
            client.get("/api/v1/programs/example/queue?limit=0", headers=coordinator).status_code
            == 422
        )


def test_password_gives_a_token(store: Store) -> None:
    bearer(store, "coord", Role.COORDINATOR)
    with client_for(store) as client:
        wrong = client.post("/api/v1/tokens", data={"username": "coord", "password": "nope"})
        assert wrong.status_code == 401
        issued = client.post("/api/v1/tokens", data={"username": "coord", "password": PASSWORD})
        assert issued.status_code == 201
        token = issued.json()["access_token"]
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert me["username"] == "coord"
        assert me["memberships"] == [{"program_id": "example", "role": "coordinator"}]
    with store.engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(audit_log.c.action))]
    assert "login_failed" in actions and "login" in actions


def _case_with_patient(client: TestClient, headers: dict[str, str]) -> str:
    items = client.get("/api/v1/programs/example/queue", headers=headers).json()["items"]
    return next(i["case_id"] for i in items if i["events"][0]["event_id"] == "a")


def test_case_detail_is_cut_by_role_and_audited(store: Store) -> None:
    seed(store)
    outreach = bearer(store, "peer", Role.OUTREACH)
    police = bearer(store, "officer", Role.LAW_ENFORCEMENT)
    manager = bearer(store, "manager", Role.PROGRAM_MANAGER)
    with client_for(store) as client:
        case_id = _case_with_patient(client, outreach)
        full = client.get(f"/api/v1/cases/{case_id}", headers=outreach)
        assert full.status_code == 200 and full.headers["ETag"] == f'"{full.json()["version"]}"'
        body = full.json()
        assert body["person"]["first_name"] == "Dana"
        assert body["person"]["addresses"][0]["city"] == "Huntington"
        assert body["reports"][0]["clinical"]["suspected_substances"] == ["fentanyl"]
        assert body["reports"][0]["clinical"]["disposition"] == "transported"

        officer = client.get(f"/api/v1/cases/{case_id}", headers=police).json()
        assert officer["person"]["last_name"] == "Example"
        assert officer["reports"][0]["clinical"] is None
        assert "fentanyl" not in str(officer) and "transported" not in str(officer)

        managed = client.get(f"/api/v1/cases/{case_id}", headers=manager).json()
        assert managed["person"] is None and "Dana" not in str(managed)
        assert managed["reports"][0]["clinical"]["naloxone_doses"] == 2
    with store.engine.connect() as conn:
        reads = conn.execute(
            select(audit_log.c.actor, audit_log.c.detail).where(audit_log.c.action == "case_read")
        ).all()
    assert {r.actor for r in reads} == {"user:peer", "user:officer", "user:manager"}


def test_one_owner_and_versions(store: Store) -> None:
    seed(store)
    peer = bearer(store, "peer", Role.OUTREACH)
    other = bearer(store, "peer2", Role.OUTREACH)
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    with client_for(store) as client:
        case_id = _case_with_patient(client, peer)
        version = client.get(f"/api/v1/cases/{case_id}", headers=peer).json()["version"]
        stale = client.put(
            f"/api/v1/cases/{case_id}/owner", json={}, headers={**peer, "If-Match": '"999"'}
        )
        assert stale.status_code == 412 and stale.headers["ETag"] == f'"{version}"'
        claimed = client.put(
            f"/api/v1/cases/{case_id}/owner", json={}, headers={**peer, "If-Match": f'"{version}"'}
        )
        assert claimed.status_code == 200 and claimed.json()["owner"] == "peer"
        assert claimed.headers["ETag"] == f'"{version + 1}"'
        conflict = client.put(f"/api/v1/cases/{case_id}/owner", json={}, headers=other)
        assert conflict.status_code == 409 and "peer" in conflict.json()["detail"]
        # an outreach member may not assign; a coordinator may take the case over
        refused = client.put(
            f"/api/v1/cases/{case_id}/owner", json={"username": "coord"}, headers=other
        )
        assert refused.status_code == 403
        assigned = client.put(
            f"/api/v1/cases/{case_id}/owner",
            json={"username": "peer2", "team_id": "qrt-day"},
            headers=coordinator,
        )
        assert assigned.status_code == 200
        mine = client.get("/api/v1/programs/example/queue?owner=peer2", headers=peer).json()
        assert [i["case_id"] for i in mine["items"]] == [case_id]
        assert mine["items"][0]["assigned_team_id"] == "qrt-day"
        unowned = client.get("/api/v1/programs/example/queue?owner=none", headers=peer).json()
        assert case_id not in [i["case_id"] for i in unowned["items"]] and unowned["total"] == 1


def test_attempts_outcomes_and_filters(store: Store) -> None:
    seed(store)
    peer = bearer(store, "peer", Role.OUTREACH)
    police = bearer(store, "officer", Role.LAW_ENFORCEMENT)
    with client_for(store) as client:
        case_id = _case_with_patient(client, peer)
        url = f"/api/v1/cases/{case_id}"
        # a law-enforcement member may record a visit, but not a treatment referral
        refused = client.post(
            f"{url}/attempts",
            json={"result": "contacted_accepted_treatment", "referral": "moud"},
            headers=police,
        )
        assert refused.status_code == 403
        first = client.post(f"{url}/attempts", json={"result": "not_located"}, headers=police)
        assert first.status_code == 201 and first.json()["attempt_no"] == 1
        bad = client.post(
            f"{url}/attempts", json={"result": "contacted_accepted_treatment"}, headers=peer
        )
        assert bad.status_code == 422 and "referral" in bad.json()["detail"]
        closed = client.post(
            f"{url}/attempts",
            json={"result": "contacted_accepted_treatment", "referral": "moud", "close": True},
            headers=peer,
        )
        assert closed.status_code == 201
        detail = client.get(url, headers=peer).json()
        assert detail["status"] == "closed" and detail["referral"] == "moud"
        assert [a["result"] for a in detail["attempts"]] == [
            "not_located",
            "contacted_accepted_treatment",
        ]
        seen_by_police = client.get(url, headers=police).json()
        assert [a["result"] for a in seen_by_police["attempts"]] == ["not_located", "contacted"]
        assert seen_by_police["outcome"] == "contacted" and seen_by_police["referral"] is None
        again = client.post(f"{url}/outcome", json={"outcome": "not_located"}, headers=peer)
        assert again.status_code == 409

        q = "/api/v1/programs/example/queue"
        assert client.get(q, headers=peer).json()["total"] == 1
        assert client.get(f"{q}?status=closed", headers=peer).json()["total"] == 1
        assert client.get(f"{q}?status=all&tier=new", headers=peer).json()["total"] == 2
        assert client.get(f"{q}?tier=deferred", headers=peer).json()["total"] == 0
        assert client.get(f"{q}?at_risk=true", headers=peer).json()["total"] == 0
        assert client.get(f"{q}?callback_requested=false", headers=peer).json()["total"] == 1
        assert client.get(f"{q}?tier=nonsense", headers=peer).status_code == 422


def test_csv_export_carries_the_notice_and_is_cut_by_role(store: Store) -> None:
    seed(store)
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    manager = bearer(store, "manager", Role.PROGRAM_MANAGER)
    police = bearer(store, "officer", Role.LAW_ENFORCEMENT)
    with client_for(store) as client:
        full = client.get("/api/v1/programs/example/export.csv", headers=coordinator)
        assert full.status_code == 200 and full.headers["content-type"].startswith("text/csv")
        lines = full.text.splitlines()
        assert "42 CFR part 2" in lines[0]
        assert "first_name" in lines[1] and "substances" in lines[1]
        assert "Dana" in full.text and "fentanyl" in full.text
        managed = client.get("/api/v1/programs/example/export.csv", headers=manager).text
        assert "42 CFR part 2" in managed and "Dana" not in managed and "fentanyl" in managed
        assert client.get("/api/v1/programs/example/export.csv", headers=police).status_code == 403
    with store.engine.connect() as conn:
        exports = conn.execute(
            select(audit_log.c.actor).where(audit_log.c.action == "export")
        ).all()
    assert sorted(r.actor for r in exports) == ["user:coord", "user:manager"]

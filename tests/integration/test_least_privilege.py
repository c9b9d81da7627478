"""Least privilege all the way, through the API and the pages on a real store (SQLite and
PostgreSQL): what a role may infer, what a password change ends, how long a live stream
outlives its account, the headers of every answer, the limits, and what may be assigned."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from schemas.accounts import Role
from schemas.cases import VisitResult
from services.accounts.credentials import digest
from services.accounts.passwords import WeakPassword, check_password
from services.accounts.users import disable_user, end_sessions, set_password
from services.cases.opening import open_cases
from services.cases.visits import record_attempt, record_outcome
from services.ingest.gateway import create_key
from services.programs import load_programs
from services.store.repository import Store
from services.store.tables import audit_log
from tests.integration.test_case_store import CIPHER, record
from tests.integration.test_queue_api import NOW, PATIENT, client_for
from tests.integration.test_web_pages import sign_in
from tests.support import wait_for
from tests.support_accounts import bearer, make_user

TIER_NAMES = ("new", "unlocated", "deferred")
EXAMPLE_PROGRAMS = str(Path(__file__).resolve().parents[2] / "services" / "example_programs.toml")


def deferred_case(store: Store) -> str:
    """A person whose last follow-up ended "declined, wants help later": their next case is
    `deferred`, a tier that tells what the last visit found."""
    programs = load_programs(None)
    earlier = record("d1", patient=PATIENT, occurred_at="2026-11-12T08:30:00-05:00")
    open_cases(store, [earlier], programs, NOW - timedelta(days=10), CIPHER)
    (first,) = store.queue("example")
    result = VisitResult.CONTACTED_DECLINED_FUTURE_INTEREST
    record_attempt(store, first.case_id, result=result, at=NOW - timedelta(days=9), team_id=None,
                   referral=None, actor="t", now=NOW - timedelta(days=9))  # fmt: skip
    program = programs.get("example")
    assert program is not None
    record_outcome(store, first.case_id, outcome=result, referral=None, actor="t",
                   now=NOW - timedelta(days=9), tier_rules=program.tiers)  # fmt: skip
    open_cases(store, [record("d2", patient=PATIENT)], programs, NOW, CIPHER)
    (second,) = store.queue("example")
    assert second.tier == "deferred"
    return second.case_id


def live_lines(client: TestClient, headers: dict[str, str], stop_after: int) -> list[str]:
    """The first `stop_after` case events' data lines of the program's live stream, from
    the start (its `alerts` events, of spike alerts, name no case)."""
    out: list[str] = []
    kind = ""
    with client.stream(
        "GET", "/api/v1/programs/example/live", headers={**headers, "Last-Event-ID": "0"}
    ) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            if kind == "case" and line.startswith("data:"):
                out.append(line[5:])
                if len(out) >= stop_after:
                    break
    return out


def test_law_enforcement_sees_no_tier_name_anywhere(store: Store) -> None:
    case_id = deferred_case(store)
    officer = bearer(store, "officer", Role.LAW_ENFORCEMENT)
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    make_user(store, "officer_page", Role.LAW_ENFORCEMENT)
    with client_for(store) as client:
        queue = client.get("/api/v1/programs/example/queue", headers=officer).json()
        assert [i["tier"] for i in queue["items"]] == ["follow-up"]
        everything = client.get("/api/v1/programs/example/queue?status=all", headers=coordinator)
        shown = {i["case_id"]: i["tier"] for i in everything.json()["items"]}
        assert shown[case_id] == "deferred", "a coordinator sees the tier"
        refused = client.get("/api/v1/programs/example/queue?tier=deferred", headers=officer)
        assert refused.status_code == 403, "a tier filter would tell the tier"
        detail = client.get(f"/api/v1/cases/{case_id}", headers=officer).json()
        assert detail["tier"] == "follow-up"
        plans = client.get("/api/v1/programs/example/plan", headers=officer).json()
        assert all(i["tier"] == "follow-up" for p in plans for i in p["items"])
        events = [json.loads(line) for line in live_lines(client, officer, stop_after=4)]
        assert events and all(e["tier"] == "follow-up" for e in events)
        assert all("previous" not in e["detail"] for e in events)
        assert sign_in(client, "officer_page").status_code == 303
        for path in ("/programs/example/queue", f"/cases/{case_id}", "/programs/example/plan"):
            html = client.get(path).text
            assert "follow-up" in html or path.endswith("/plan"), path
            assert not any(f"tier-{name}" in html for name in TIER_NAMES), path
            assert ">deferred<" not in html and '"deferred"' not in html, path


def test_the_csv_says_follow_up_and_names_its_file_safely(store: Store) -> None:
    deferred_case(store)
    manager = bearer(store, "boss", Role.PROGRAM_MANAGER)
    admin = bearer(store, "root1", Role.ADMIN, "*")
    officer_id = make_user(store, "officer2", Role.LAW_ENFORCEMENT)
    assert officer_id
    with client_for(store) as client:
        csv = client.get("/api/v1/programs/example/export.csv", headers=manager)
        assert csv.status_code == 200 and ",deferred," in csv.text  # clinical sight: the tier
        disposition = csv.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="example-cases-')
        assert "filename*=UTF-8''example-cases-" in disposition
        nowhere = client.get("/api/v1/programs/no-such/export.csv", headers=admin)
        assert nowhere.status_code == 404, "an admin of every program: still no such program"
    with store.engine.connect() as conn:
        subjects = conn.execute(select(audit_log.c.subject_id)).scalars().all()
    assert "no-such" not in subjects


def test_a_new_password_ends_every_session_and_token(store: Store) -> None:
    headers = bearer(store, "peer", Role.OUTREACH)
    with client_for(store) as client:
        assert sign_in(client, "peer").status_code == 303
        assert client.get("/programs/example/queue", follow_redirects=False).status_code == 200
        assert client.get("/api/v1/me", headers=headers).status_code == 200
        set_password(store, "peer", "a brand new passphrase", actor="admin", now=NOW)
        assert client.get("/api/v1/me", headers=headers).status_code == 401
        page = client.get("/programs/example/queue", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_one_token_is_revoked_and_an_admin_ends_all_sessions(store: Store) -> None:
    first = bearer(store, "peer", Role.OUTREACH)
    with client_for(store) as client:
        second = client.post("/api/v1/tokens", data={"username": "peer",
                                                     "password": "correct horse battery staple",
                                                     "label": "phone"}).json()  # fmt: skip
        other = {"Authorization": f"Bearer {second['access_token']}"}
        listed = client.get("/api/v1/me/tokens", headers=first).json()
        assert [t["label"] for t in listed] == ["test", "phone"]
        assert all("access_token" not in t for t in listed)
        phone = digest(second["access_token"])[:12]
        assert client.delete(f"/api/v1/me/tokens/{phone}", headers=first).status_code == 204
        assert client.get("/api/v1/me", headers=other).status_code == 401
        assert client.get("/api/v1/me", headers=first).status_code == 200
        assert client.delete(f"/api/v1/me/tokens/{phone}", headers=first).status_code == 404
        ended = end_sessions(store, "peer", actor="admin", now=NOW)
        assert ended["tokens_revoked"] == 1
        assert client.get("/api/v1/me", headers=first).status_code == 401


def test_a_disabled_users_live_stream_closes_within_5_s(store: Store) -> None:
    deferred_case(store)
    headers = bearer(store, "peer", Role.OUTREACH)
    with client_for(store) as client:
        opened: list[str] = []
        closed: list[float] = []

        def follow() -> None:
            with client.stream("GET", "/api/v1/programs/example/live", headers=headers) as stream:
                for line in stream.iter_lines():
                    opened.append(line)
            closed.append(time.monotonic())

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        wait_for(lambda: opened, 10, "the stream to say hello")
        assert reader.is_alive()
        disabled = time.monotonic()
        disable_user(store, "peer", actor="admin", now=NOW)
        reader.join(10)
        assert closed, "the stream outlived the account"
        assert closed[0] - disabled < 5.0


@pytest.mark.parametrize("production", [False, True])
def test_every_answer_carries_the_security_headers(store: Store, production: bool) -> None:
    headers = bearer(store, "coord", Role.COORDINATOR)
    extra = {"environment": "production", "database_url": "postgresql://x/y",
             "kafka_bootstrap_servers": "k:9092", "programs_file": EXAMPLE_PROGRAMS,
             "data_keys": "k1:" + "A" * 43 + "=", "index_key": "B" * 43 + "=",
             "clock_offset_seconds": 0}  # fmt: skip
    with client_for(store, **(extra if production else {})) as client:
        answers = [
            client.get("/api/v1/programs/example/queue", headers=headers),  # JSON, personal
            client.get("/api/v1/programs/example/queue"),  # 401
            client.get("/api/v1/cases/nope", headers=headers),  # 404
            client.get("/programs/example/queue", follow_redirects=False),  # a redirect
            client.get("/static/qrt.css"),
            client.post("/api/v1/cases/x/outcome", headers=headers, json={"outcome": "no"}),
        ]
    assert [a.status_code for a in answers] == [200, 401, 404, 303, 200, 422]
    for answer in answers:
        h = answer.headers
        assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY"
        assert h["referrer-policy"] == "no-referrer" and "content-security-policy" in h
        assert h["cache-control"] in ("no-store", "no-cache"), answer.url
        assert ("strict-transport-security" in h) is production
    assert answers[0].headers["cache-control"] == "no-store"


def test_the_11th_sign_in_from_one_address_in_a_minute_gets_429(store: Store) -> None:
    make_user(store, "coord", Role.COORDINATOR)
    with client_for(store) as client:
        tries = [
            client.post("/api/v1/tokens", data={"username": f"guess{n}", "password": "x" * 12})
            for n in range(14)
        ]
    assert [t.status_code for t in tries[:10]] == [401] * 10
    assert {t.status_code for t in tries[10:]} == {429}
    assert int(tries[10].headers["retry-after"]) >= 1
    with store.engine.connect() as conn:
        limited = conn.execute(
            select(audit_log.c.action).where(audit_log.c.action == "rate_limited")
        ).all()
    assert len(limited) == 1, "one audit row for the window, however many tries"


def test_the_gateway_is_limited_per_key(store: Store) -> None:
    key = create_key(store, "EX-EMS-01", NOW, "limits")
    auth = {"Authorization": f"Bearer {key}"}
    with client_for(store, gateway_rate_per_minute=3, kafka_bootstrap_servers="127.0.0.1:9") as c:
        codes = [
            c.post("/api/v1/events", json={"x": 1}, headers=auth).status_code for _ in range(5)
        ]
    assert codes[:3] == [422] * 3 and codes[3:] == [429, 429]


def test_deep_json_is_refused_with_422_everywhere(store: Store) -> None:
    headers = bearer(store, "coord", Role.COORDINATOR)
    key = create_key(store, "EX-EMS-01", NOW, "depth")
    deep = "[" * 1000 + "]" * 1000
    with client_for(store) as client:
        for path, auth in (
            ("/api/v1/events", {"Authorization": f"Bearer {key}"}),
            ("/api/v1/cases/x/attempts", headers),
            ("/api/v1/tokens", {}),
        ):
            answer = client.post(
                path, content=deep, headers={**auth, "Content-Type": "application/json"}
            )
            assert answer.status_code == 422, (path, answer.text)
            assert "nested deeper than 32" in answer.json()["detail"]  # fmt: skip


def test_only_a_member_of_the_cases_program_may_own_it(store: Store) -> None:
    open_cases(store, [record("o1")], load_programs(None), NOW, CIPHER)
    (item,) = store.queue("example")
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    make_user(store, "faraway", Role.OUTREACH, "another")
    make_user(store, "counter", Role.PROGRAM_MANAGER)
    make_user(store, "peer", Role.OUTREACH)
    path = f"/api/v1/cases/{item.case_id}/owner"
    with client_for(store) as client:
        answers = {
            name: client.put(path, json={"username": name}, headers=coordinator)
            for name in ("faraway", "nobody-at-all", "counter")
        }
        assert {a.status_code for a in answers.values()} == {422}
        details = {a.json()["detail"].replace(repr(n), "NAME") for n, a in answers.items()}
        assert len(details) == 1, "an unknown user and a non-member are refused alike"
        assert client.put(path, json={"username": "peer"}, headers=coordinator).status_code == 200


@pytest.mark.parametrize(
    "password",
    [" " * 12, "aaaaaaaaaaaa", "qrtpeer12345", "password1234", "Welcome2026!", "short"],
)
def test_passwords_that_keep_nobody_out_are_refused(password: str) -> None:
    with pytest.raises(WeakPassword):
        check_password(password, "qrtpeer")


def test_a_good_password_is_taken() -> None:
    check_password("violet tram harbour sixty", "qrtpeer")

"""Security of the work-queue API and pages on a real store (SQLite and PostgreSQL):
sign-in required, CSRF on a session cookie, SQL injection in filters and ids,
escaped output, dead credentials, program isolation, the append-only audit log."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import HTTPException
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import DBAPIError

from schemas.accounts import Role
from services.accounts.credentials import digest, issue_token, revoke_token
from services.accounts.users import disable_user, principal_of
from services.api.case_actions import parse_if_match
from services.cases.opening import open_cases
from services.cases.replanning import plan_program
from services.programs import load_programs
from services.store.repository import Store
from services.store.tables import (
    attempts,
    audit_log,
    cases,
    match_reviews,
    metadata,
    web_sessions,
)
from tests.integration.test_case_store import CIPHER, record
from tests.integration.test_queue_api import NOW, client_for, seed
from tests.integration.test_web_pages import csrf_of, patient_case, sign_in
from tests.support_accounts import PASSWORD, bearer, make_user

INJECTIONS = (
    "' OR '1'='1",
    "1; DROP TABLE cases; --",
    "%' --",
    "' UNION SELECT id, program_id FROM cases --",
    '"; DELETE FROM audit_log; --',
    "a\x00b",  # PostgreSQL text holds no NUL: once a 500, now refused or not found
)
SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def raw_client(store: Store) -> TestClient:
    """A client that shows a server error as a 500 answer instead of raising it."""
    return TestClient(client_for(store).app, raise_server_exceptions=False)


def snapshot(store: Store) -> dict[str, Any]:
    """What a refused or harmless request must leave as it was."""
    with store.engine.connect() as conn:
        return {
            "cases": sorted(
                conn.execute(select(cases.c.id, cases.c.version, cases.c.owner_user_id)).all()
            ),
            "attempts": conn.execute(select(func.count()).select_from(attempts)).scalar_one(),
            "changes": conn.execute(
                select(func.count())
                .select_from(audit_log)
                .where(audit_log.c.action.not_in(["case_read", "login", "token_issued"]))
            ).scalar_one(),
        }


# --- signed out ------------------------------------------------------------------------


def test_signed_out_the_api_answers_401_and_a_page_sends_to_login(store: Store) -> None:
    seed(store)
    case_id = patient_case(store)
    with raw_client(store) as client:
        for path in (
            "/api/v1/me",
            "/api/v1/programs/example/queue",
            f"/api/v1/cases/{case_id}",
            "/api/v1/programs/example/plan",
            "/api/v1/programs/example/export.csv",
        ):
            answer = client.get(path)
            assert answer.status_code == 401, path
            assert answer.headers["www-authenticate"].startswith("Bearer")
        claim = client.put(f"/api/v1/cases/{case_id}/owner", json={})
        assert claim.status_code == 401
        for path, location in (
            ("/", "/login?next=/"),
            ("/programs/example/queue", "/login?next=/programs/example/queue"),
            (
                "/programs/example/queue?tier=new&team=day-east",
                "/login?next=/programs/example/queue%3Ftier%3Dnew%26team%3Dday-east",
            ),
            (f"/cases/{case_id}", f"/login?next=/cases/{case_id}"),
            ("/programs/example/plan", "/login?next=/programs/example/plan"),
        ):
            page = client.get(path, follow_redirects=False)
            assert page.status_code == 303 and page.headers["location"] == location, path
        # a form posted without a session goes to the login page too, and changes nothing
        before = snapshot(store)
        posted = client.post(f"/cases/{case_id}/claim", follow_redirects=False)
        assert posted.status_code == 303 and posted.headers["location"].startswith("/login")
        assert snapshot(store) == before


# --- CSRF ------------------------------------------------------------------------------


def test_a_session_cookie_without_its_csrf_token_changes_nothing(store: Store) -> None:
    seed(store)
    case_id = patient_case(store)
    make_user(store, "coord", Role.COORDINATOR)
    with raw_client(store) as client:
        assert sign_in(client, "coord").status_code == 303
        token = csrf_of(client.get(f"/cases/{case_id}").text)
        before = snapshot(store)
        refused = [
            client.put(f"/api/v1/cases/{case_id}/owner", json={}),
            client.put(f"/api/v1/cases/{case_id}/owner", json={}, headers={"X-CSRF-Token": "x"}),
            client.delete(f"/api/v1/cases/{case_id}/owner"),
            client.post(f"/api/v1/cases/{case_id}/attempts", json={"result": "not_located"}),
            client.post(f"/api/v1/cases/{case_id}/outcome", json={"outcome": "not_located"}),
            client.post(f"/cases/{case_id}/claim", data={}),
            client.post(f"/cases/{case_id}/claim", data={"csrf_token": token[::-1]}),
            client.post(f"/cases/{case_id}/attempts", data={"result": "not_located"}),
            client.post("/reviews/1", data={"decision": "link"}),
            client.post("/logout", data={}),
        ]
        assert [r.status_code for r in refused] == [403] * len(refused)
        assert all("CSRF" in r.json()["detail"] for r in refused)
        assert snapshot(store) == before
        # still signed in (the refused logout did not end the session) ...
        assert client.get("/api/v1/me").json()["username"] == "coord"
        # ... and with the token the same requests go through
        ok = client.put(f"/api/v1/cases/{case_id}/owner", json={}, headers={"X-CSRF-Token": token})
        assert ok.status_code == 200 and ok.json()["owner"] == "coord"
        assert snapshot(store) != before
    # a bearer token is no ambient credential: no CSRF token needed
    headers = bearer(store, "peer", Role.COORDINATOR)
    with raw_client(store) as api:
        assert api.delete(f"/api/v1/cases/{case_id}/owner", headers=headers).status_code == 200


# --- SQL injection ---------------------------------------------------------------------


def test_injection_in_queue_filters_and_ids_finds_nothing_and_breaks_nothing(
    store: Store,
) -> None:
    seed(store)
    headers = bearer(store, "coord", Role.COORDINATOR)
    make_user(store, "peer", Role.COORDINATOR)
    tables = set(inspect(store.engine).get_table_names())
    before = snapshot(store)
    case_id = patient_case(store)
    with raw_client(store) as client:
        queue = "/api/v1/programs/example/queue"
        assert client.get(queue, headers=headers).json()["total"] == 2
        for bad in INJECTIONS:
            for name in ("team", "owner", "tier", "status"):
                answer = client.get(queue, params={name: bad}, headers=headers)
                assert answer.status_code in (200, 422), (name, bad, answer.text)
                if answer.status_code == 200:
                    assert answer.json() == {"total": 0, "items": []}, (name, bad)
            wrapped = quote(bad, safe="")
            for method, path, body in (
                ("get", f"/api/v1/cases/{wrapped}", None),
                ("put", f"/api/v1/cases/{wrapped}/owner", {}),
                ("post", f"/api/v1/cases/{wrapped}/attempts", {"result": "not_located"}),
                ("get", f"/api/v1/programs/{wrapped}/queue", None),
                ("get", f"/api/v1/programs/{wrapped}/export.csv", None),
                ("post", f"/api/v1/reviews/{wrapped}", {"decision": "link"}),
            ):
                answer = client.request(method, path, json=body, headers=headers)
                assert answer.status_code in (404, 422), (path, answer.status_code)
            # values inside bodies: refused or taken as plain text, never as SQL
            owner = client.put(
                f"/api/v1/cases/{case_id}/owner", json={"username": bad}, headers=headers
            )
            assert owner.status_code == 422, owner.text
        # the same strings through the pages (signed in with a session)
        assert sign_in(client, "peer").status_code == 303
        for bad in INJECTIONS:
            page = client.get("/programs/example/queue", params={"team": bad})
            assert page.status_code in (200, 422) and "data-case=" not in page.text
            wrapped = quote(bad, safe="")
            assert client.get(f"/cases/{wrapped}").status_code in (404, 422)
    assert set(inspect(store.engine).get_table_names()) == tables >= set(metadata.tables)
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "if_match"),
    [
        ("post", "/api/v1/reviews/99999999999999999999", {"decision": "link"}, None),
        ("post", "/api/v1/reviews/2147483648", {"decision": "keep_apart"}, None),
        ("get", "/api/v1/programs/example/plan?start=9999-12-31T00:00:00Z", None, None),
        ("get", "/api/v1/programs/example/plan?start=0001-01-01T00:00:00%2B14:00", None, None),
        ("put", "/api/v1/cases/{case}/owner", {"shift_start": "2026-11-23T13:00:00"}, None),
        ("put", "/api/v1/cases/{case}/owner", {"shift_start": "0001-01-01T00:00:00+14:00"}, None),
        ("put", "/api/v1/cases/{case}/owner", {"team_id": "day\x00east"}, None),
        ("get", "/api/v1/programs/example/plan?team=%00", None, None),
        (
            "post",
            "/api/v1/cases/{case}/attempts",
            {"result": "not_located", "team_id": "\x00"},
            None,
        ),
        ("put", "/api/v1/cases/{case}/owner", {}, '"' + "9" * 5000 + '"'),  # int() refuses it
    ],
)
def test_odd_input_that_once_failed_with_500_is_refused(
    store: Store, method: str, path: str, body: dict[str, Any] | None, if_match: str | None
) -> None:
    """Found by fuzzing and probing (test_openapi_fuzz.py); each was a 500 before."""
    seed(store)
    headers = bearer(store, "coord", Role.COORDINATOR)
    if if_match is not None:
        headers["If-Match"] = if_match
    before = snapshot(store)
    with raw_client(store) as client:
        answer = client.request(
            method, path.format(case=patient_case(store)), json=body, headers=headers
        )
    assert answer.status_code in (400, 404, 422), answer.text
    assert snapshot(store) == before


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every route of the app, also those inside included routers."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):  # FastAPI keeps included routers whole
            found.extend(api_routes(route.original_router.routes))
    return found


def test_a_nul_in_any_path_or_query_string_is_a_422_before_any_route(store: Store) -> None:
    """PostgreSQL text holds no NUL; one guard refuses it for every route and method."""
    seed(store)
    headers = bearer(store, "coord", Role.COORDINATOR)
    before = snapshot(store)
    with raw_client(store) as client:
        routes = api_routes(client.app.routes)
        assert len(routes) > 20
        for route in routes:
            method = sorted(route.methods)[0]
            clean = re.sub(r"{\w+}", "x", route.path)
            tries = [f"{clean}?q=a%00b"]
            if "{" in route.path:
                tries.append(re.sub(r"{\w+}", "a%00b", route.path))
            for url in tries:
                answer = client.request(method, url, headers=headers)
                assert answer.status_code == 422, (method, url, answer.status_code)
                assert "NUL" in answer.json()["detail"]
        assert client.get("/api/v1/programs/example/queue", headers=headers).status_code == 200
    assert snapshot(store) == before


@pytest.mark.parametrize("value", ['"\u00b2"', '"\u0663"', '"' + "9" * 5000 + '"', '"-1"', "W/x"])
def test_an_if_match_that_is_no_case_version_is_a_400(value: str) -> None:
    """A latin-1 header may carry "²", which str.isdigit() takes for a digit and int()
    refuses (a 500 over a real server; the test client re-encodes such a header)."""
    with pytest.raises(HTTPException) as refused:
        parse_if_match(value)
    assert refused.value.status_code == 400
    assert parse_if_match('W/"12"') == 12 and parse_if_match("*") is None


# --- escaping --------------------------------------------------------------------------


def seed_script_patient(store: Store) -> str:
    """Two reports of a patient named like a script tag, dates of birth apart: two cases,
    one review. The id of the first case."""
    patient = {"first_name": SCRIPT, "last_name": "Testperson", "dob": "1990-01-02",
               "phone": "+13045550142"}  # fmt: skip
    programs = load_programs(None)
    open_cases(store, [record("x1", patient=patient)], programs, NOW, CIPHER)
    later = record("x2", patient={**patient, "dob": "1975-07-30"},
                   occurred_at="2026-11-22T09:30:00-05:00")  # fmt: skip
    open_cases(store, [later], programs, NOW, CIPHER)
    program = programs.get("example")
    assert program is not None
    plan_program(store, program, NOW)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(match_reviews)).scalar_one() == 1
        return str(conn.execute(select(cases.c.id).order_by(cases.c.occurred_at)).scalars().first())


def test_a_script_in_a_name_is_shown_as_text_on_every_page(store: Store) -> None:
    case_id = seed_script_patient(store)
    headers = bearer(store, "api", Role.COORDINATOR)
    make_user(store, "coord", Role.COORDINATOR)
    evil_team = '"><img src=x onerror=alert(2)>'
    with raw_client(store) as client:
        refused = client.post(
            f"/api/v1/cases/{case_id}/attempts",
            json={"result": "not_located", "team_id": evil_team},
            headers=headers,
        )
        assert refused.status_code == 422 and "no team" in refused.json()["detail"]
        assert sign_in(client, "coord").status_code == 303
        pages = {
            "case": client.get(f"/cases/{case_id}"),
            "plan": client.get("/programs/example/plan"),
            "reviews": client.get("/programs/example/reviews"),
            "case error": client.get(f"/cases/{case_id}", params={"error": SCRIPT}),
            "reviews message": client.get("/programs/example/reviews", params={"message": SCRIPT}),
        }
    for name, page in pages.items():
        assert page.status_code == 200, name
        assert SCRIPT not in page.text, name
        assert ESCAPED in page.text, name
    assert "<img src=x" not in pages["case"].text  # a team id that is no team is refused
    # the messages a page echoes from its query string are escaped too
    assert f'<p class="error" role="alert">{ESCAPED}</p>' in pages["case error"].text
    assert f'<p class="message" role="status">{ESCAPED}</p>' in pages["reviews message"].text
    # the plan lists the planned person by name (a coordinator may see names) ...
    assert f"<td>{ESCAPED} Testperson</td>" in pages["plan"].text
    # ... and the review shows both persons: this event's and the known one
    assert pages["reviews"].text.count(f"<p>{ESCAPED} Testperson") == 2


# --- dead credentials ------------------------------------------------------------------


def test_expired_revoked_and_disabled_credentials_answer_401(store: Store) -> None:
    seed(store)
    user_id = make_user(store, "coord", Role.COORDINATOR)
    leaver_id = make_user(store, "leaver", Role.OUTREACH)
    with store.engine.connect() as conn:
        coord, leaver = principal_of(conn, user_id), principal_of(conn, leaver_id)
    assert coord is not None and leaver is not None
    expired = issue_token(store, coord, label="old", lifetime=timedelta(hours=1),
                          now=NOW - timedelta(hours=2)).access_token  # fmt: skip
    revoked = issue_token(store, coord, label="lost", lifetime=timedelta(days=1),
                          now=NOW).access_token  # fmt: skip
    live = issue_token(store, coord, label="ok", lifetime=timedelta(days=1), now=NOW).access_token
    leavers = issue_token(store, leaver, label="x", lifetime=timedelta(days=1), now=NOW)
    assert revoke_token(store, user_id, digest(revoked)[:12], actor="test", now=NOW)
    with raw_client(store) as client:

        def me(token: str) -> int:
            return client.get(
                "/api/v1/me", headers={"Authorization": f"Bearer {token}"}
            ).status_code

        # before the leaving: a token and a session that work
        assert me(leavers.access_token) == 200
        assert sign_in(client, "leaver").status_code == 303
        assert client.get("/programs/example/queue", follow_redirects=False).status_code == 200
        disable_user(store, "leaver", actor="test", now=NOW)

        assert me(live) == 200
        assert me(expired) == 401 and me(revoked) == 401 and me(leavers.access_token) == 401
        assert me("qrt_" + "A" * 43) == 401
        # the disabled user's session is dead too, and the password no longer signs in
        assert client.get("/programs/example/queue", follow_redirects=False).status_code == 303
        assert sign_in(client, "leaver").status_code == 401
        token = client.post("/api/v1/tokens", data={"username": "leaver", "password": PASSWORD})
        assert token.status_code == 401


# --- program isolation -----------------------------------------------------------------


def test_another_programs_case_does_not_exist_for_you(store: Store) -> None:
    seed(store)
    case_id = patient_case(store)
    stranger = bearer(store, "elsewhere", Role.COORDINATOR, "another")
    manager = bearer(store, "manager", Role.PROGRAM_MANAGER)
    make_user(store, "away", Role.COORDINATOR, "another")
    before = snapshot(store)
    with raw_client(store) as client:
        for method, path, body in (
            ("get", f"/api/v1/cases/{case_id}", None),
            ("put", f"/api/v1/cases/{case_id}/owner", {}),
            ("delete", f"/api/v1/cases/{case_id}/owner", None),
            ("post", f"/api/v1/cases/{case_id}/attempts", {"result": "not_located"}),
            ("post", f"/api/v1/cases/{case_id}/outcome", {"outcome": "not_located"}),
            ("get", "/api/v1/programs/example/queue", None),
            ("get", "/api/v1/programs/example/plan", None),
            ("get", "/api/v1/programs/example/export.csv", None),
        ):
            answer = client.request(method, path, json=body, headers=stranger)
            assert answer.status_code == 404, (method, path, answer.status_code)
        # inside the program, a role without the right is told so: 403
        claim = client.put(f"/api/v1/cases/{case_id}/owner", json={}, headers=manager)
        assert claim.status_code == 403
        # the pages the same way
        assert sign_in(client, "away").status_code == 303
        assert client.get(f"/cases/{case_id}").status_code == 404
        assert client.get("/programs/example/queue").status_code == 404
        # no page of theirs shows a form ("another" runs no program here): the session's
        # CSRF token from the store, so the claim is refused for the case, not the token
        with store.engine.connect() as conn:
            token = conn.execute(select(web_sessions.c.csrf_token)).scalar_one()
        claim_page = client.post(f"/cases/{case_id}/claim", data={"csrf_token": token})
        assert claim_page.status_code == 404
    assert snapshot(store) == before


# --- the audit log ---------------------------------------------------------------------


def test_the_audit_log_refuses_update_and_delete(store: Store) -> None:
    seed(store)
    bearer(store, "coord", Role.COORDINATOR)
    with store.engine.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).all()
    assert rows, "seeding and signing in write the audit log"
    for statement in (
        "UPDATE audit_log SET actor = 'someone-else'",
        "UPDATE audit_log SET detail = '{}' WHERE id = :id",
        "DELETE FROM audit_log WHERE id = :id",
        "DELETE FROM audit_log",
    ):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(statement), {"id": rows[0].id})
    with store.engine.connect() as conn:
        assert conn.execute(select(audit_log).order_by(audit_log.c.id)).all() == rows
    # appending still works
    with store.engine.begin() as conn:
        conn.execute(
            audit_log.insert().values(
                at=NOW,
                actor="test",
                action="probe",
                subject_type="test",
                subject_id="1",
                detail="{}",
            )
        )
    with store.engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(audit_log)).scalar_one() == len(rows) + 1
        )

"""The scheduler's pages through a test client, on a real store (SQLite and PostgreSQL):
signing in and out, the queue, a case cut by role, the forms that claim a case and
record an attempt (with the CSRF token the page carries), and the security headers."""

from __future__ import annotations

import re
from http.cookies import Morsel, SimpleCookie

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from schemas.accounts import Role
from services.accounts.credentials import digest
from services.api.auth import SESSION_COOKIE
from services.store.repository import Store
from services.store.tables import attempts, audit_log, cases, events, web_sessions
from tests.integration.test_queue_api import client_for, seed
from tests.support_accounts import PASSWORD, make_user

LOGIN_COOKIE = "qrt_login"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
VERSION_FIELD = re.compile(r'name="version" value="(\d+)"')


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry (the login form or a signed-in page)."""
    found = CSRF_FIELD.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def version_of(html: str) -> str:
    """The case version a case page's forms send back (If-Match)."""
    found = VERSION_FIELD.search(html)
    assert found, "the page has no form with the case version"
    return found.group(1)


def set_cookies(response: Response) -> dict[str, Morsel[str]]:
    """The cookies a response sets (each Set-Cookie header parsed), by name."""
    out: dict[str, Morsel[str]] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        out.update(jar)
    return out


def sign_in(client: TestClient, username: str, next_path: str = "/") -> Response:
    """Through the login form, as a browser would; the answer to the POST (not followed)."""
    form = client.get("/login", params={"next": next_path})
    assert form.status_code == 200
    return client.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORD,
            "csrf_token": csrf_of(form.text),
            "next": next_path,
        },
        follow_redirects=False,
    )


def signed_in(store: Store, username: str, role: Role, *programs: str) -> TestClient:
    make_user(store, username, role, *programs)
    client = client_for(store)
    assert sign_in(client, username).status_code == 303
    return client


def patient_case(store: Store) -> str:
    """The seeded case opened by event "a", whose report names a patient (Dana Example)."""
    with store.engine.connect() as conn:
        return str(
            conn.execute(select(events.c.case_id).where(events.c.event_id == "a")).scalar_one()
        )


# --- signing in ------------------------------------------------------------------------


def test_login_form_sets_a_login_csrf_cookie(store: Store) -> None:
    with client_for(store) as client:
        form = client.get("/login")
    assert form.status_code == 200 and 'action="/login"' in form.text
    cookie = set_cookies(form)[LOGIN_COOKIE]
    assert cookie.value == csrf_of(form.text) and len(cookie.value) >= 24
    assert cookie["httponly"] is True and cookie["samesite"].lower() == "strict"


def test_login_without_or_with_a_wrong_csrf_token_is_refused(store: Store) -> None:
    make_user(store, "coord", Role.COORDINATOR)
    with client_for(store) as client:
        token = csrf_of(client.get("/login").text)
        creds = {"username": "coord", "password": PASSWORD}
        missing = client.post("/login", data=creds, follow_redirects=False)
        wrong = client.post(
            "/login", data={**creds, "csrf_token": token + "x"}, follow_redirects=False
        )
        assert missing.status_code == 403 and wrong.status_code == 403
        assert SESSION_COOKIE not in set_cookies(missing) | set_cookies(wrong)
    # the right token without its cookie (another site's form posting here) is refused too
    with client_for(store) as stranger:
        alone = stranger.post("/login", data={**creds, "csrf_token": token}, follow_redirects=False)
        assert alone.status_code == 403
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(web_sessions)).scalar_one() == 0
        logins = conn.execute(select(audit_log.c.action).where(audit_log.c.action == "login"))
        assert logins.all() == [], "a refused form never reaches the password check"


def test_wrong_password_shows_the_form_again_with_401(store: Store) -> None:
    make_user(store, "coord", Role.COORDINATOR)
    with client_for(store) as client:
        first = csrf_of(client.get("/login").text)
        wrong = client.post(
            "/login",
            data={"username": "coord", "password": "not the password", "csrf_token": first},
            follow_redirects=False,
        )
    assert wrong.status_code == 401
    assert "Wrong username or password." in wrong.text and 'action="/login"' in wrong.text
    again = csrf_of(wrong.text)
    assert again != first and set_cookies(wrong)[LOGIN_COOKIE].value == again
    assert SESSION_COOKIE not in set_cookies(wrong)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(web_sessions)).scalar_one() == 0
        failed = conn.execute(select(audit_log.c.action).where(audit_log.c.actor == "user:coord"))
        assert "login_failed" in [r.action for r in failed]


def test_right_password_opens_a_session_in_a_strict_httponly_cookie(store: Store) -> None:
    make_user(store, "coord", Role.COORDINATOR)
    with client_for(store) as client:
        answer = sign_in(client, "coord", "/programs/example/queue?tier=new")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/programs/example/queue?tier=new"
        cookies = set_cookies(answer)
        session = cookies[SESSION_COOKIE]
        assert session["httponly"] is True and session["samesite"].lower() == "strict"
        assert session["path"] == "/" and int(session["max-age"]) > 0
        assert cookies[LOGIN_COOKIE]["max-age"] == "0"  # the login cookie ends
        queue = client.get(answer.headers["location"])
        assert queue.status_code == 200 and "Work queue" in queue.text
    with store.engine.connect() as conn:
        (stored,) = conn.execute(select(web_sessions.c.session_hash)).scalars()
    assert stored == digest(session.value) != session.value  # kept only as a hash


@pytest.mark.parametrize(
    "target", ["//evil.example", "https://evil.example", "/\\evil.example", "//evil.example/x"]
)
def test_next_never_leaves_the_site(store: Store, target: str) -> None:
    make_user(store, "coord", Role.COORDINATOR)
    with client_for(store) as client:
        form = client.get("/login", params={"next": target})
        assert 'name="next" value="/"' in form.text and "evil.example" not in form.text
        answer = client.post(
            "/login",
            data={
                "username": "coord",
                "password": PASSWORD,
                "csrf_token": csrf_of(form.text),
                "next": target,
            },
            follow_redirects=False,
        )
    assert answer.status_code == 303 and answer.headers["location"] == "/"


# --- the queue and the case ------------------------------------------------------------


def test_queue_page_lists_the_cases_with_tier_badges(store: Store) -> None:
    seed(store)
    with signed_in(store, "coord", Role.COORDINATOR) as client:
        home = client.get("/", follow_redirects=False)
        assert home.status_code == 303 and home.headers["location"] == "/programs/example/queue"
        page = client.get("/programs/example/queue")
        rows = client.get("/programs/example/queue/rows")
        deferred = client.get("/programs/example/queue", params={"tier": "deferred"})
    assert page.status_code == 200
    with store.engine.connect() as conn:
        stored = {r.id: r.tier for r in conn.execute(select(cases.c.id, cases.c.tier))}
    listed = re.findall(r'<tr class="tier-(\w+)[^"]*" data-case="([0-9a-f-]+)"', page.text)
    assert {case_id: tier for tier, case_id in listed} == stored and len(listed) == 2
    named = patient_case(store)
    for case_id, tier in stored.items():
        assert f'<span class="badge tier-{tier}">{tier}</span>' in page.text
        shown = "Dana E." if case_id == named else f"Case {case_id[:8]}"  # short name, else id
        assert f'<a href="/cases/{case_id}" class="case-link">{shown}</a>' in page.text
    assert '<span id="total">2</span>' in page.text
    assert '<span class="area">Huntington 25701</span>' in page.text  # the residence's area
    assert "Dana Example" not in page.text and "1 Test St" not in page.text  # no more than that
    assert rows.headers["X-Total-Count"] == "2" and rows.text.count("data-case=") == 2
    assert "No cases match." in deferred.text and "data-case=" not in deferred.text


def test_case_page_shows_the_name_to_a_coordinator_and_no_clinical_facts_to_police(
    store: Store,
) -> None:
    seed(store)
    case_id = patient_case(store)
    with signed_in(store, "coord", Role.COORDINATOR) as coordinator:
        full = coordinator.get(f"/cases/{case_id}")
    with signed_in(store, "officer", Role.LAW_ENFORCEMENT) as police:
        cut = police.get(f"/cases/{case_id}")
    with signed_in(store, "manager", Role.PROGRAM_MANAGER) as manager:
        managed = manager.get(f"/cases/{case_id}")
    assert full.status_code == cut.status_code == managed.status_code == 200
    assert '<p class="name" id="person-name">Dana Example</p>' in full.text
    assert "fentanyl" in full.text and "transported" in full.text and "naloxone" in full.text
    assert 'name="referral"' in full.text  # a coordinator may record a referral
    # a law-enforcement member: the person, never the clinical facts (42 CFR Part 2)
    assert "Dana Example" in cut.text and 'class="clinical"' not in cut.text
    for fact in ("fentanyl", "transported", "naloxone"):
        assert fact not in cut.text
    assert 'name="referral"' not in cut.text
    # a program manager: clinical facts, no identity
    assert "Dana" not in managed.text and "fentanyl" in managed.text
    with store.engine.connect() as conn:
        readers = conn.execute(
            select(audit_log.c.actor).where(
                audit_log.c.action == "case_read", audit_log.c.subject_id == case_id
            )
        ).scalars()
        assert sorted(readers) == ["user:coord", "user:manager", "user:officer"]


def test_claim_and_record_an_attempt_through_the_page_forms(store: Store) -> None:
    seed(store)
    case_id = patient_case(store)
    user_id = make_user(store, "peer", Role.OUTREACH)
    with client_for(store) as client:
        assert sign_in(client, "peer").status_code == 303
        page = client.get(f"/cases/{case_id}")
        token, version = csrf_of(page.text), version_of(page.text)
        assert 'id="claim"' in page.text
        claimed = client.post(
            f"/cases/{case_id}/claim",
            data={"csrf_token": token, "version": version},
            follow_redirects=False,
        )
        assert claimed.status_code == 303
        assert claimed.headers["location"] == f"/cases/{case_id}?message=Claimed."
        with store.engine.connect() as conn:
            row = conn.execute(select(cases).where(cases.c.id == case_id)).one()
        assert row.owner_user_id == user_id and row.version == int(version) + 1

        after = client.get(f"/cases/{case_id}")
        assert '<dd id="case-owner">peer</dd>' in after.text and 'id="release"' in after.text
        # the form of the page read before the claim is stale now: refused, nothing written
        stale = client.post(
            f"/cases/{case_id}/attempts",
            data={"csrf_token": token, "version": version, "result": "not_located"},
        )
        assert "changed since you read it" in stale.text
        recorded = client.post(
            f"/cases/{case_id}/attempts",
            data={
                "csrf_token": csrf_of(after.text),
                "version": version_of(after.text),
                "result": "not_located",
                "team_id": "day-east",
            },
            follow_redirects=False,
        )
        assert recorded.status_code == 303 and "error" not in recorded.headers["location"]
        shown = client.get(f"/cases/{case_id}")
    with store.engine.connect() as conn:
        tries = conn.execute(select(attempts).where(attempts.c.case_id == case_id)).all()
        status = conn.execute(select(cases.c.status).where(cases.c.id == case_id)).scalar_one()
    assert [(a.attempt_no, a.result, a.team_id, a.recorded_by) for a in tries] == [
        (1, "not_located", "day-east", "user:peer")
    ]
    assert status == "open"
    assert "<strong>Not located</strong>" in shown.text and "by peer" in shown.text
    assert "message=Attempt+1+saved." in recorded.headers["location"]  # the confirmation


def test_an_attempt_form_may_close_the_case_with_a_referral(store: Store) -> None:
    seed(store)
    case_id = patient_case(store)
    with signed_in(store, "coord", Role.COORDINATOR) as client:
        page = client.get(f"/cases/{case_id}")
        done = client.post(
            f"/cases/{case_id}/attempts",
            data={
                "csrf_token": csrf_of(page.text),
                "result": "contacted_accepted_treatment",
                "referral": "moud",
                "close": "true",
            },
        )
    assert done.status_code == 200 and "closed" in done.text and 'id="record"' not in done.text
    with store.engine.connect() as conn:
        row = conn.execute(select(cases).where(cases.c.id == case_id)).one()
    assert (row.status, row.outcome, row.referral) == (
        "closed",
        "contacted_accepted_treatment",
        "moud",
    )


def test_logout_ends_the_session(store: Store) -> None:
    seed(store)
    with signed_in(store, "coord", Role.COORDINATOR) as client:
        old_cookie = client.cookies[SESSION_COOKIE]
        page = client.get("/programs/example/queue")
        out = client.post(
            "/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
        )
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert set_cookies(out)[SESSION_COOKIE]["max-age"] == "0"
        after = client.get("/programs/example/queue", follow_redirects=False)
        assert after.status_code == 303 and after.headers["location"].startswith("/login?next=")
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(web_sessions)).scalar_one() == 0
    # the old cookie, replayed, is worth nothing: the session is gone from the store
    with client_for(store) as replay:
        replay.cookies.set(SESSION_COOKIE, old_cookie)
        assert replay.get("/programs/example/queue", follow_redirects=False).status_code == 303
        assert replay.get("/api/v1/me").status_code == 401


# --- headers ---------------------------------------------------------------------------

SECURITY = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
CSP_DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "base-uri 'none'",
)


def test_pages_send_the_security_headers(store: Store) -> None:
    seed(store)
    case_id = patient_case(store)
    with client_for(store) as anonymous:
        pages = [anonymous.get("/login")]
    with signed_in(store, "coord", Role.COORDINATOR) as client:
        for path in (
            "/programs/example/queue",
            "/programs/example/queue/rows",
            f"/cases/{case_id}",
            "/programs/example/plan",
            "/programs/example/reviews",
        ):
            pages.append(client.get(path))
    for page in pages:
        assert page.status_code == 200, page.url
        for name, value in SECURITY.items():
            assert page.headers[name] == value, (page.url, name)
        csp = page.headers["content-security-policy"]
        for directive in CSP_DIRECTIVES:
            assert directive in csp, (page.url, directive)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        # the policy forbids inline script, so the pages must carry none
        for tag in re.findall(r"<script[^>]*>", page.text):
            assert "src=" in tag, (page.url, tag)
        assert not re.search(r"<[^>]+\son\w+\s*=", page.text), page.url  # no inline handlers


def test_a_username_with_a_nul_character_is_a_wrong_login(store: Store) -> None:
    make_user(store, "coord", Role.COORDINATOR)
    with TestClient(client_for(store).app, raise_server_exceptions=False) as client:
        token = csrf_of(client.get("/login").text)
        answer = client.post(
            "/login",
            data={"username": "coord\x00", "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
    assert answer.status_code == 401 and SESSION_COOKIE not in set_cookies(answer)

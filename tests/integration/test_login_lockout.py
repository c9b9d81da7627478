"""Failed sign-ins lock an account for a while (services/accounts/lockout.py), on a
real store (SQLite and PostgreSQL), counted from the audit log."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import select

from schemas.accounts import Role
from services.accounts.lockout import LoginThrottle
from services.accounts.users import authenticate, set_password
from services.store.repository import Store
from services.store.tables import audit_log
from tests.integration.test_queue_api import NOW, client_for
from tests.integration.test_web_pages import sign_in
from tests.support_accounts import PASSWORD, make_user

THROTTLE = LoginThrottle(max_failures=3, window=timedelta(minutes=15))
M4 = timedelta(minutes=4)


def tries(store: Store, username: str, password: str, at_minute: float) -> bool:
    at = NOW + timedelta(minutes=at_minute)
    return authenticate(store, username, password, now=at, throttle=THROTTLE) is not None


def actions(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.action)
            .where(audit_log.c.action.like("login%"))
            .order_by(audit_log.c.id)
        )
        return [r.action for r in rows]


def test_failed_tries_lock_the_account_until_they_age_out(store: Store) -> None:
    make_user(store, "coord", Role.COORDINATOR)
    assert not any(tries(store, "coord", "wrong password!", m) for m in (0, 1, 2))
    assert not tries(store, "coord", PASSWORD, 3)  # the right password, but locked
    assert not tries(store, "coord", PASSWORD, 14.9)  # the first failure is still counted
    assert tries(store, "coord", PASSWORD, 15.5)  # it aged out: 2 failures in the window
    assert actions(store) == ["login_failed"] * 3 + ["login_locked"] * 2 + ["login"]


def test_a_sign_in_clears_the_count_and_other_accounts_are_untouched(store: Store) -> None:
    make_user(store, "coord", Role.COORDINATOR)
    make_user(store, "peer", Role.OUTREACH)
    assert not any(tries(store, "coord", "wrong password!", m) for m in (0, 1))
    assert tries(store, "coord", PASSWORD, 2)
    assert not any(tries(store, "coord", "wrong password!", m) for m in (3, 4))
    assert tries(store, "coord", PASSWORD, 5)  # 2 failures since the last sign-in, not 4
    assert not any(tries(store, "peer", "wrong password!", m) for m in (0, 1, 2, 3))
    assert tries(store, "coord", PASSWORD, 6)
    assert not tries(store, "peer", PASSWORD, 6)
    # an unknown name is never locked: nothing tells which names exist
    assert not any(tries(store, "nobody", "wrong password!", m) for m in range(5))
    assert "login_locked" not in actions(store)[-5:]


def test_a_new_password_opens_a_locked_account(store: Store) -> None:
    make_user(store, "coord", Role.COORDINATOR)
    assert not any(tries(store, "coord", "wrong password!", m) for m in (0, 1, 2))
    assert not tries(store, "coord", PASSWORD, 3)
    set_password(store, "coord", "a brand new passphrase", actor="user:admin", now=NOW + M4)
    assert tries(store, "coord", "a brand new passphrase", 5)


def test_parallel_guesses_are_checked_one_at_a_time(store: Store) -> None:
    """A burst of guesses at once: only `max_failures` are checked against the
    password; the others find the account locked."""
    make_user(store, "coord", Role.COORDINATOR)
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda _: tries(store, "coord", "wrong password!", 1), range(12)))
    assert not any(answers)
    assert sorted(actions(store)) == ["login_failed"] * 3 + ["login_locked"] * 9


def test_the_api_and_the_page_answer_a_locked_account_as_a_wrong_password(
    store: Store,
) -> None:
    make_user(store, "coord", Role.COORDINATOR)
    # default lockout: 10 failures in 15 minutes (the sign-in rate limit, 10 a minute by
    # default, is raised here: it has its own tests in test_least_privilege.py)
    with client_for(store, sign_in_rate_per_minute=100) as client:
        for _ in range(10):
            wrong = client.post(
                "/api/v1/tokens", data={"username": "coord", "password": "wrong password!"}
            )
            assert wrong.status_code == 401
        locked = client.post("/api/v1/tokens", data={"username": "coord", "password": PASSWORD})
        assert locked.status_code == 401 and locked.json() == wrong.json()
        assert "After 10 failed tries within 15 minutes" in locked.json()["detail"]
        signed_in = sign_in(client, "coord")  # the login form, with the right password
        assert signed_in.status_code == 401 and "After 10 failed tries" in signed_in.text
    assert actions(store)[-2:] == ["login_locked", "login_locked"]

"""Accounts for tests: real users (argon2), real tokens, through the same functions the
CLI uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.accounts import Membership, Role
from services.accounts.credentials import issue_token
from services.accounts.users import create_user, principal_of
from services.store.repository import Store

PASSWORD = "correct horse battery staple"
NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)


def make_user(store: Store, username: str, role: Role, *programs: str) -> str:
    """The user's id; every user has the password PASSWORD."""
    user = create_user(
        store,
        username,
        PASSWORD,
        [Membership(program_id=p, role=role) for p in programs or ("example",)],
        actor="test",
        now=NOW,
    )
    return user.id


def bearer(store: Store, username: str, role: Role, *programs: str) -> dict[str, str]:
    """Authorization headers of a new user with this role."""
    user_id = make_user(store, username, role, *programs)
    with store.engine.connect() as conn:
        principal = principal_of(conn, user_id)
    assert principal is not None
    token = issue_token(store, principal, label="test", lifetime=timedelta(days=3650), now=NOW)
    return {"Authorization": f"Bearer {token.access_token}"}

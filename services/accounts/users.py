"""Users and their memberships in the store; every change audited."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from schemas.accounts import ALL_PROGRAMS, Membership, Role, UserRead
from services.accounts.lockout import LoginThrottle, is_locked, one_at_a_time
from services.accounts.passwords import DUMMY_HASH, hash_password, verify_password
from services.accounts.roles import Principal
from services.store.case_records import audit
from services.store.repository import Store
from services.store.tables import api_tokens, user_roles, users, web_sessions

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")


class AccountError(ValueError):
    """A change to accounts the store refuses, with the reason."""


class UnknownUser(AccountError):
    def __init__(self, username: str) -> None:
        super().__init__(f"no user {username!r}")


def _memberships(conn: Connection, user_id: str) -> list[Membership]:
    rows = conn.execute(
        select(user_roles.c.program_id, user_roles.c.role)
        .where(user_roles.c.user_id == user_id)
        .order_by(user_roles.c.program_id)
    )
    return [Membership(program_id=r.program_id, role=Role(r.role)) for r in rows]


def create_user(
    store: Store,
    username: str,
    password: str,
    memberships: Sequence[Membership],
    *,
    actor: str,
    now: datetime,
) -> UserRead:
    if not USERNAME.fullmatch(username):
        raise AccountError(
            "a username is 2-64 characters: lowercase letters, digits, '.', '_' or '-'"
        )
    if not memberships:
        raise AccountError("a user needs a role in at least one program")
    for m in memberships:
        if m.program_id == ALL_PROGRAMS and m.role is not Role.ADMIN:
            raise AccountError('only an admin may be a member of every program ("*")')
    password_hash = hash_password(password, username)
    user_id = str(uuid.uuid4())
    with store.transaction() as conn:
        if conn.execute(select(users.c.id).where(users.c.username == username)).first():
            raise AccountError(f"the username {username!r} is taken")
        conn.execute(
            users.insert().values(
                id=user_id, username=username, password_hash=password_hash, created_at=now
            )
        )
        for m in memberships:
            conn.execute(
                user_roles.insert().values(user_id=user_id, program_id=m.program_id, role=m.role)
            )
        audit(
            conn, now, actor, "user_created", "user", user_id,
            {"username": username, "roles": {m.program_id: m.role.value for m in memberships}},
        )  # fmt: skip
    return UserRead(id=user_id, username=username, memberships=list(memberships))


def set_password(store: Store, username: str, password: str, *, actor: str, now: datetime) -> None:
    """A new password ends every session and token of the account."""
    password_hash = hash_password(password, username)
    with store.transaction() as conn:
        row = conn.execute(select(users.c.id).where(users.c.username == username)).first()
        if row is None:
            raise UnknownUser(username)
        conn.execute(update(users).where(users.c.id == row.id).values(password_hash=password_hash))
        ended = end_all_sessions(conn, row.id, now)
        audit(conn, now, actor, "password_set", "user", row.id, ended)


def end_all_sessions(conn: Connection, user_id: str, now: datetime) -> dict[str, int]:
    """Every page session of the user closed, every bearer token revoked."""
    sessions = conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id)).rowcount
    tokens = conn.execute(
        update(api_tokens)
        .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    return {"sessions_ended": sessions, "tokens_revoked": tokens}


def end_sessions(store: Store, username: str, *, actor: str, now: datetime) -> dict[str, int]:
    """An admin ends every session and token of a user (the password stays)."""
    with store.transaction() as conn:
        row = conn.execute(select(users.c.id).where(users.c.username == username)).first()
        if row is None:
            raise UnknownUser(username)
        ended = end_all_sessions(conn, row.id, now)
        audit(conn, now, actor, "sessions_ended", "user", row.id, ended)
    return ended


def set_role(
    store: Store, username: str, membership: Membership, *, actor: str, now: datetime
) -> None:
    with store.transaction() as conn:
        row = conn.execute(select(users.c.id).where(users.c.username == username)).first()
        if row is None:
            raise UnknownUser(username)
        conn.execute(
            delete(user_roles).where(
                user_roles.c.user_id == row.id, user_roles.c.program_id == membership.program_id
            )
        )
        conn.execute(
            user_roles.insert().values(
                user_id=row.id, program_id=membership.program_id, role=membership.role
            )
        )
        audit(
            conn, now, actor, "role_set", "user", row.id,
            {"program_id": membership.program_id, "role": membership.role.value},
        )  # fmt: skip


def disable_user(store: Store, username: str, *, actor: str, now: datetime) -> None:
    with store.transaction() as conn:
        row = conn.execute(select(users.c.id).where(users.c.username == username)).first()
        if row is None:
            raise UnknownUser(username)
        conn.execute(update(users).where(users.c.id == row.id).values(disabled_at=now))
        audit(conn, now, actor, "user_disabled", "user", row.id)


def principal_of(conn: Connection, user_id: str) -> Principal | None:
    """The user as a principal, or None if unknown or disabled."""
    row = conn.execute(
        select(users.c.username, users.c.disabled_at).where(users.c.id == user_id)
    ).first()
    if row is None or row.disabled_at is not None:
        return None
    roles = {m.program_id: m.role for m in _memberships(conn, user_id)}
    return Principal(user_id=user_id, username=row.username, roles=roles)


def authenticate(
    store: Store,
    username: str,
    password: str,
    *,
    now: datetime,
    throttle: LoginThrottle = LoginThrottle(),  # noqa: B008 (frozen, immutable)
) -> Principal | None:
    """The user if the password is right and the account is not locked by failed tries
    (`lockout.py`); every try is audited (never the password)."""
    if not USERNAME.fullmatch(username):  # never a user; nothing such goes to the store
        verify_password(DUMMY_HASH, password)  # as long as for a real user
        with store.transaction() as conn:
            audit(conn, now, "user:?", "login_failed", "user", "-", {"reason": "bad username"})
        return None
    with one_at_a_time(username), store.transaction() as conn:
        row = conn.execute(
            select(users.c.id, users.c.password_hash, users.c.disabled_at)
            .where(users.c.username == username)
            .with_for_update()  # PostgreSQL: other API processes wait; SQLite ignores it
        ).first()
        locked = is_locked(conn, row.id if row else "-", now, throttle) and row is not None
        ok = verify_password(row.password_hash if row and not locked else DUMMY_HASH, password)
        principal = principal_of(conn, row.id) if row is not None and ok and not locked else None
        action = "login" if principal else "login_locked" if locked else "login_failed"
        audit(conn, now, f"user:{username}"[:64], action, "user", row.id if row else "-")
    return principal


def list_users(store: Store) -> list[UserRead]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(users).order_by(users.c.username)).all()
        return [
            UserRead(
                id=r.id,
                username=r.username,
                memberships=_memberships(conn, r.id),
                disabled=r.disabled_at is not None,
            )
            for r in rows
        ]


def count_users(store: Store) -> int:
    with store.engine.connect() as conn:
        return len(conn.execute(select(users.c.id)).all())

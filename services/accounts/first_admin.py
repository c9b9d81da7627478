"""Development only: the first sign-in, so `qrt up` gives a working login at once."""

from __future__ import annotations

from datetime import datetime

from schemas.accounts import ALL_PROGRAMS, Membership, Role
from services.accounts.passwords import new_password
from services.accounts.users import count_users, create_user
from services.store.repository import Store

FIRST_ADMIN = "admin"


def ensure_first_admin(store: Store, now: datetime) -> tuple[str, str] | None:
    """(username, password) of a new admin if the store has no user yet; else None.

    The password is returned once and kept only as its argon2 hash."""
    if count_users(store) > 0:
        return None
    password = new_password()
    create_user(
        store,
        FIRST_ADMIN,
        password,
        [Membership(program_id=ALL_PROGRAMS, role=Role.ADMIN)],
        actor="system:qrt-up",
        now=now,
    )
    return FIRST_ADMIN, password

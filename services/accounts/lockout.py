"""Failed sign-ins lock an account for a while: a password cannot be guessed at speed.

Counted from the append-only audit log (`login_failed` on the user), so every API
process sees the same count and a restart forgets nothing. Only failures since the
account's last successful sign-in or password change count, within a sliding window:
the account opens again as soon as its oldest counted failure is older than the
window (at most `window` after the last one), or when an admin sets a new password
(`qrt user password`). A locked account answers exactly as a wrong password does;
unknown names are never locked (nothing to protect) and cost the same two queries.
Sign-ins of one name are taken one at a time (a lock per name in the process, and
the user's row locked on PostgreSQL), so a burst of parallel guesses cannot all be
checked against the same count.
"""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select

from services.store.tables import audit_log

CLEARS_FAILURES = ("login", "password_set")
_LOCKS = [threading.Lock() for _ in range(64)]


@dataclass(frozen=True)
class LoginThrottle:
    max_failures: int = 10
    window: timedelta = timedelta(minutes=15)


def throttle_of(settings: Any) -> LoginThrottle:
    return LoginThrottle(
        settings.login_max_failures, timedelta(minutes=settings.login_lock_minutes)
    )


def one_at_a_time(username: str) -> threading.Lock:
    """The in-process lock a sign-in of this name holds (64 stripes, bounded memory)."""
    return _LOCKS[zlib.crc32(username.encode()) % len(_LOCKS)]


def is_locked(conn: Connection, user_id: str, now: datetime, throttle: LoginThrottle) -> bool:
    """`max_failures` or more failed sign-ins of this user in the window since its last
    successful one (or password change)."""
    a = audit_log.c
    of_user = and_(a.subject_type == "user", a.subject_id == user_id)
    cleared = conn.execute(
        select(func.max(a.at)).where(
            of_user, a.action.in_(CLEARS_FAILURES), a.at >= now - throttle.window
        )
    ).scalar_one_or_none()
    since = max(cleared, now - throttle.window) if cleared is not None else now - throttle.window
    failures = conn.execute(
        select(func.count()).where(of_user, a.action == "login_failed", a.at > since)
    ).scalar_one()
    return int(failures) >= throttle.max_failures


def locked_hint(settings: Any, first: str) -> str:
    """What a failed sign-in answers, the same whether the password was wrong or the
    account is locked: `first`, then the rule."""
    throttle = throttle_of(settings)
    minutes = throttle.window.total_seconds() / 60
    return (
        f"{first}. After {throttle.max_failures} failed tries within {minutes:g} minutes "
        "an account is locked until they are that old."
    )

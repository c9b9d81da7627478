"""Failed sign-ins lock an account for a while: a password cannot be guessed at speed.

Counted from the append-only audit log (`login_failed` on the user), so every API
process sees the same count and a restart forgets nothing. Only failures since the
account's last successful sign-in count, within the window; once the window has
passed since the last failure counted, the account opens again by itself. An unknown
username is never locked (nothing to protect, and a lock would tell it exists); a
locked account answers exactly as a wrong password does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select

from services.store.tables import audit_log


@dataclass(frozen=True)
class LoginThrottle:
    max_failures: int = 10
    window: timedelta = timedelta(minutes=15)


def is_locked(conn: Connection, user_id: str, now: datetime, throttle: LoginThrottle) -> bool:
    """`max_failures` or more failed sign-ins of this user in the window since its last
    successful one."""
    a = audit_log.c
    of_user = and_(a.subject_type == "user", a.subject_id == user_id)
    last_ok = conn.execute(
        select(func.max(a.at)).where(of_user, a.action == "login", a.at >= now - throttle.window)
    ).scalar_one_or_none()
    since = max(last_ok, now - throttle.window) if last_ok is not None else now - throttle.window
    failures = conn.execute(
        select(func.count()).where(of_user, a.action == "login_failed", a.at > since)
    ).scalar_one()
    return int(failures) >= throttle.max_failures


def locked_hint(settings: Any, first: str) -> str:
    """What a failed sign-in answers, the same whether the password was wrong or the
    account is locked: `first`, then the rule."""
    throttle: LoginThrottle = settings.login_throttle
    minutes = throttle.window.total_seconds() / 60
    return (
        f"{first}. After {throttle.max_failures} failed tries an account waits {minutes:g} minutes."
    )

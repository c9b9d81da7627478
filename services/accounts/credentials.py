"""Bearer tokens (API) and sessions (pages): random, shown once, kept as SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, select, update

from schemas.accounts import TokenIssued
from services.accounts.roles import Principal
from services.accounts.users import principal_of
from services.store.case_records import audit
from services.store.repository import Store
from services.store.tables import api_tokens, web_sessions

TOKEN_PREFIX = "qrt_"  # noqa: S105 (a prefix, not a secret)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(
    store: Store, principal: Principal, *, label: str | None, lifetime: timedelta, now: datetime
) -> TokenIssued:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = now + lifetime
    with store.transaction() as conn:
        conn.execute(
            api_tokens.insert().values(
                token_hash=digest(token),
                user_id=principal.user_id,
                label=label,
                created_at=now,
                expires_at=expires,
            )
        )
        audit(conn, now, principal.actor, "token_issued", "user", principal.user_id)
    return TokenIssued(access_token=token, expires_at=expires)


USE_NOTED_EVERY = timedelta(minutes=1)  # a token's last use is written at most this often


def principal_for_token(store: Store, token: str, now: datetime) -> Principal | None:
    hashed = digest(token)
    with store.engine.connect() as conn:
        row = conn.execute(
            select(api_tokens.c.user_id, api_tokens.c.last_used_at).where(
                and_(
                    api_tokens.c.token_hash == hashed,
                    api_tokens.c.revoked_at.is_(None),
                    api_tokens.c.expires_at > now,
                )
            )
        ).first()
        if row is None:
            return None
        principal = principal_of(conn, row.user_id)
    if principal is not None and (
        row.last_used_at is None or row.last_used_at < now - USE_NOTED_EVERY
    ):
        with store.transaction() as conn:
            conn.execute(
                update(api_tokens).where(api_tokens.c.token_hash == hashed).values(last_used_at=now)
            )
    return principal


@dataclass(frozen=True)
class TokenView:
    """A token as its owner and an admin may see it: never the token itself."""

    id: str  # the first 12 hex digits of its hash
    label: str | None
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def tokens_of(store: Store, user_id: str) -> list[TokenView]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(api_tokens)
            .where(api_tokens.c.user_id == user_id)
            .order_by(api_tokens.c.created_at)
        ).all()
    return [
        TokenView(
            r.token_hash[:12], r.label, r.created_at, r.expires_at, r.last_used_at, r.revoked_at
        )
        for r in rows
    ]


def revoke_token(store: Store, user_id: str, token_id: str, *, actor: str, now: datetime) -> bool:
    """Revoke one token of the user, named by the id `tokens_of` shows; False if the user
    has no such active token."""
    if len(token_id) != 12 or not all(c in "0123456789abcdef" for c in token_id):
        return False
    with store.transaction() as conn:
        done = conn.execute(
            update(api_tokens)
            .where(
                and_(
                    api_tokens.c.user_id == user_id,
                    api_tokens.c.token_hash.startswith(token_id),
                    api_tokens.c.revoked_at.is_(None),
                )
            )
            .values(revoked_at=now)
        ).rowcount
        if done:
            audit(conn, now, actor, "token_revoked", "user", user_id, {"token": token_id})
    return bool(done)


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf_token: str


def open_session(
    store: Store, principal: Principal, *, lifetime: timedelta, now: datetime
) -> tuple[str, str]:
    """(session cookie value, CSRF token). Old, expired sessions are swept here."""
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    with store.transaction() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now))
        conn.execute(
            web_sessions.insert().values(
                session_hash=digest(cookie),
                user_id=principal.user_id,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + lifetime,
            )
        )
    return cookie, csrf


def session_for(store: Store, cookie: str, now: datetime) -> Session | None:
    with store.engine.connect() as conn:
        row = conn.execute(
            select(web_sessions.c.user_id, web_sessions.c.csrf_token).where(
                and_(web_sessions.c.session_hash == digest(cookie), web_sessions.c.expires_at > now)
            )
        ).first()
        if row is None:
            return None
        principal = principal_of(conn, row.user_id)
        return None if principal is None else Session(principal, row.csrf_token)


def close_session(store: Store, cookie: str) -> None:
    with store.transaction() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.session_hash == digest(cookie)))


def same_secret(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())

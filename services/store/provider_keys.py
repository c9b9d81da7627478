"""Providers' keys (`provider_keys`): a provider reports on the referrals made to it with
its own key, printed once when made; only the key's SHA-256 is kept."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from services.store.case_records import audit
from services.store.repository import Store
from services.store.tables import provider_keys

KEY_PREFIX = "qrtp_"  # a provider's key; staff tokens and agency keys start with "qrt_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ProviderKey:
    key_id: str  # the first 12 hex digits of its hash: enough to name it, useless to use it
    program_id: str
    provider_id: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class KeyHolder:
    """Whom a valid key speaks for."""

    program_id: str
    provider_id: str

    @property
    def actor(self) -> str:
        """How the audit log names the provider."""
        return f"provider:{self.provider_id}"


def create_key(
    store: Store, program_id: str, provider_id: str, *, now: datetime, actor: str,
    label: str | None = None,
) -> str:  # fmt: skip
    """A new key for a provider of a program; the key itself is returned once, only its
    hash is kept. Audited (the key's id, never the key)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    digest = _hash(key)
    with store.transaction() as conn:
        conn.execute(
            provider_keys.insert().values(
                key_hash=digest,
                program_id=program_id,
                provider_id=provider_id,
                label=label,
                created_at=now,
            )
        )
        audit(conn, now, actor, "provider_key_created", "provider", provider_id,
              {"program": program_id, "key_id": digest[:12]})  # fmt: skip
    return key


def list_keys(store: Store, program_id: str | None = None) -> list[ProviderKey]:
    query = select(provider_keys).order_by(
        provider_keys.c.program_id, provider_keys.c.provider_id, provider_keys.c.created_at
    )
    if program_id is not None:
        query = query.where(provider_keys.c.program_id == program_id)
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        ProviderKey(
            r.key_hash[:12], r.program_id, r.provider_id, r.label, r.created_at, r.revoked_at
        )
        for r in rows
    ]


def revoke_key(store: Store, key_id: str, *, now: datetime, actor: str) -> ProviderKey | None:
    """Revoke the one active key whose hash starts with `key_id` (12 hex digits or more);
    the key revoked, or None when there is no such key (or the start names several)."""
    if len(key_id) < 12 or not all(c in "0123456789abcdef" for c in key_id):
        return None
    with store.transaction() as conn:
        rows = conn.execute(
            select(provider_keys).where(
                provider_keys.c.key_hash.startswith(key_id, autoescape=True),
                provider_keys.c.revoked_at.is_(None),
            )
        ).all()
        if len(rows) != 1:
            return None
        r = rows[0]
        conn.execute(
            update(provider_keys)
            .where(provider_keys.c.key_hash == r.key_hash)
            .values(revoked_at=now)
        )
        audit(conn, now, actor, "provider_key_revoked", "provider", r.provider_id,
              {"program": r.program_id, "key_id": r.key_hash[:12]})  # fmt: skip
    return ProviderKey(r.key_hash[:12], r.program_id, r.provider_id, r.label, r.created_at, now)


def holder_of(store: Store, key: str | None) -> KeyHolder | None:
    """The provider a key speaks for; None for an unknown or revoked key."""
    if not key or not key.startswith(KEY_PREFIX) or "\x00" in key:
        return None
    with store.engine.connect() as conn:
        row = conn.execute(
            select(provider_keys.c.program_id, provider_keys.c.provider_id).where(
                provider_keys.c.key_hash == _hash(key), provider_keys.c.revoked_at.is_(None)
            )
        ).first()
    return None if row is None else KeyHolder(row.program_id, row.provider_id)

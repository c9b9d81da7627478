"""The HTTP ingest gateway's core: agency keys, screening, publishing, receipts.

Publishers authenticate with a per-agency API key (`qrt agency create` prints
one; only its SHA-256 is stored) and may publish only as their own agency. An
event is screened exactly as the intake worker screens it (so a 202 is never
followed by a dead letter) and published with acks=all. An event already in
the store (source, agency, event id), or accepted by this process moments ago
and not stored yet, answers `duplicate: true`. (Two API processes may both
accept a repeat sent at the same instant: the case worker's unique keys then
keep it from opening anything twice.) A batch is all or nothing: one bad event
refuses the batch with every event's errors, and nothing of it is published.
The hot path writes nothing to the database: keys are cached for a minute
(a revoked key stops working within that minute)."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update

from schemas.intake import IntakeRecord, Origin, RejectedEvent
from schemas.overdose_event import OverdoseEvent
from schemas.referral_event import IngestEvent
from services.ingest.screening import ScreeningRules, screen
from services.programs import Programs
from services.store.repository import Store
from services.store.tables import agency_keys
from services.store.tables import events as events_table

KEY_PREFIX = "qrt_"
GATEWAY_ORIGIN = Origin(topic="gateway", partition=0, offset=0)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(store: Store, agency_id: str, now: datetime, label: str | None = None) -> str:
    """A new API key for an agency; printed once, only its hash is kept."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with store.transaction() as conn:
        conn.execute(
            agency_keys.insert().values(
                key_hash=_hash(key), agency_id=agency_id, label=label, created_at=now
            )
        )
    return key


@dataclass(frozen=True)
class AgencyKey:
    key_id: str  # the first 12 hex digits of its hash: enough to name it, useless to use it
    agency_id: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


def list_keys(store: Store) -> list[AgencyKey]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(agency_keys).order_by(agency_keys.c.agency_id, agency_keys.c.created_at)
        ).all()
    return [
        AgencyKey(r.key_hash[:12], r.agency_id, r.label, r.created_at, r.revoked_at) for r in rows
    ]


def revoke_key(store: Store, key_id: str, now: datetime) -> bool:
    """Revoke the active key whose hash starts with `key_id` (12 hex digits or more)."""
    if len(key_id) < 12 or not all(c in "0123456789abcdef" for c in key_id):
        return False
    with store.transaction() as conn:
        done = conn.execute(
            update(agency_keys)
            .where(
                and_(agency_keys.c.key_hash.startswith(key_id), agency_keys.c.revoked_at.is_(None))
            )
            .values(revoked_at=now)
        ).rowcount
    return done == 1


class KeyCache:
    """key hash -> (agency or None, when looked up): a minute of memory per key."""

    def __init__(self, ttl_s: float = 60.0) -> None:
        self.ttl_s = ttl_s
        self._seen: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    def cached(self, key: str | None) -> tuple[bool, str | None]:
        """(known, agency): answered from memory, without the store; not known means
        `agency_of` must look the key up."""
        if not key or not key.startswith(KEY_PREFIX):
            return True, None
        with self._lock:
            hit = self._seen.get(_hash(key))
        if hit is not None and time.monotonic() - hit[1] < self.ttl_s:
            return True, hit[0]
        return False, None

    def agency_of(self, store: Store, key: str | None) -> str | None:
        known, agency = self.cached(key)
        if known or key is None:
            return agency
        digest, now = _hash(key), time.monotonic()
        found = _lookup(store, digest)
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[digest] = (found, now)
        return found


def _lookup(store: Store, digest: str) -> str | None:
    with store.engine.connect() as conn:
        found = conn.execute(
            select(agency_keys.c.agency_id).where(
                and_(agency_keys.c.key_hash == digest, agency_keys.c.revoked_at.is_(None))
            )
        ).scalar_one_or_none()
    return str(found) if found is not None else None


def agency_of(store: Store, key: str | None) -> str | None:
    """Uncached: for the command line and tests."""
    if not key or not key.startswith(KEY_PREFIX):
        return None
    return _lookup(store, _hash(key))


@dataclass
class Screened:
    events: list[OverdoseEvent] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)  # index, reason, detail, errors
    foreign: list[int] = field(default_factory=list)  # indexes naming another agency


def screen_items(
    items: Sequence[Any], agency_id: str, programs: Programs, rules: ScreeningRules, now: datetime
) -> Screened:
    out = Screened()
    for index, item in enumerate(items):
        raw = json.dumps(item).encode()
        result = screen(raw, GATEWAY_ORIGIN, programs=programs, now=now, rules=rules)
        if isinstance(result, RejectedEvent):
            out.refused.append(
                {
                    "index": index,
                    "reason": result.reason.value,
                    "detail": result.detail,
                    "errors": [e.model_dump() for e in result.errors],
                }
            )
            continue
        assert isinstance(result, IntakeRecord)
        if result.event.agency_id != agency_id:
            out.foreign.append(index)
        out.events.append(result.event)
    return out


EventKey = tuple[str, str, str]


def key_of(event: IngestEvent) -> EventKey:
    return (event.source.value, event.agency_id, event.event_id)


class Recent:
    """Events this process accepted lately (they may not be in the store yet)."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._keys: OrderedDict[EventKey, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: EventKey) -> bool:
        with self._lock:
            return key in self._keys

    def add(self, keys: Sequence[EventKey]) -> None:
        with self._lock:
            for key in keys:
                self._keys[key] = None
            while len(self._keys) > self.size:
                self._keys.popitem(last=False)


def in_store(store: Store, events: Sequence[IngestEvent]) -> set[EventKey]:
    keys = [key_of(e) for e in events]
    if not keys:
        return set()
    c = events_table.c
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(c.source, c.agency_id, c.event_id).where(
                or_(*(and_(c.source == s, c.agency_id == a, c.event_id == e) for s, a, e in keys))
            )
        ).all()
    return {(r.source, r.agency_id, r.event_id) for r in rows}

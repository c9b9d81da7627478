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

import asyncio
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

from kafka import KafkaProducer
from sqlalchemy import and_, or_, select

from schemas.intake import IntakeRecord, Origin, RejectedEvent
from schemas.overdose_event import OverdoseEvent
from services.ingest.publisher import make_producer
from services.ingest.screening import ScreeningRules, screen
from services.programs import Programs
from services.settings import Settings
from services.store.repository import Store
from services.store.tables import agency_keys
from services.store.tables import events as events_table
from services.topics import SOURCE_TOPICS

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


class KeyCache:
    """key hash -> (agency or None, when looked up): a minute of memory per key."""

    def __init__(self, ttl_s: float = 60.0) -> None:
        self.ttl_s = ttl_s
        self._seen: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    def agency_of(self, store: Store, key: str | None) -> str | None:
        if not key or not key.startswith(KEY_PREFIX):
            return None
        digest, now = _hash(key), time.monotonic()
        with self._lock:
            hit = self._seen.get(digest)
        if hit is not None and now - hit[1] < self.ttl_s:
            return hit[0]
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


def key_of(event: OverdoseEvent) -> EventKey:
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


def in_store(store: Store, events: Sequence[OverdoseEvent]) -> set[EventKey]:
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


class GatewayPublisher:
    """One kafka-python producer for the API process, made on first use."""

    def __init__(self, settings: Settings, servers: str) -> None:
        self.settings, self.servers = settings, servers
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    @property
    def producer(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                self._producer = make_producer(self.servers)
            return self._producer

    async def publish(self, events: Sequence[OverdoseEvent], timeout_s: float = 10.0) -> None:
        """Send, and return once the broker acknowledged every one (acks=all); raises if
        not. kafka-python's futures call back from its I/O thread into this event loop,
        so no thread waits per request."""
        loop = asyncio.get_running_loop()
        producer = await asyncio.to_thread(lambda: self.producer)  # first use fetches metadata
        waits = []
        for e in events:
            done: asyncio.Future[None] = loop.create_future()
            sent = producer.send(
                self.settings.topic(SOURCE_TOPICS[e.source.value]),
                key=e.event_id.encode(),
                value=e.model_dump_json(exclude_none=True).encode(),
            )
            sent.add_callback(lambda _meta, f=done: loop.call_soon_threadsafe(_settle, f, None))
            sent.add_errback(lambda exc, f=done: loop.call_soon_threadsafe(_settle, f, exc))
            waits.append(done)
        await asyncio.wait_for(asyncio.gather(*waits), timeout_s)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)

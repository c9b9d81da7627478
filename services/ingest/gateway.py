"""The HTTP ingest gateway's core: agency keys, screening, publishing, receipts.

Publishers authenticate with a per-agency API key (`qrt agency create` prints
one; only its SHA-256 is stored) and may publish only as their own agency. An
event is screened exactly as the intake worker screens it (so a 202 is never
followed by a dead letter), published with acks=all, and only then receipted:
a receipt (source, agency, event id) makes the same event answer
`duplicate: true` next time. A batch is all or nothing: one bad event refuses
the batch with every event's errors, and nothing of it is published."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kafka import KafkaProducer
from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from schemas.intake import IntakeRecord, Origin, RejectedEvent
from schemas.overdose_event import OverdoseEvent
from services.ingest.publisher import make_producer
from services.ingest.screening import ScreeningRules, screen
from services.programs import Programs
from services.settings import Settings
from services.store.repository import Store
from services.store.tables import agency_keys, gateway_receipts
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


def agency_of(store: Store, key: str | None) -> str | None:
    if not key or not key.startswith(KEY_PREFIX):
        return None
    with store.engine.connect() as conn:
        found = conn.execute(
            select(agency_keys.c.agency_id).where(
                and_(agency_keys.c.key_hash == _hash(key), agency_keys.c.revoked_at.is_(None))
            )
        ).scalar_one_or_none()
    return str(found) if found is not None else None


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


def already_received(store: Store, events: Sequence[OverdoseEvent]) -> set[tuple[str, str, str]]:
    keys = [(e.source.value, e.agency_id, e.event_id) for e in events]
    if not keys:
        return set()
    c = gateway_receipts.c
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(c.source, c.agency_id, c.event_id).where(
                or_(*(and_(c.source == s, c.agency_id == a, c.event_id == e) for s, a, e in keys))
            )
        ).all()
    return {(r.source, r.agency_id, r.event_id) for r in rows}


def receipt(store: Store, events: Sequence[OverdoseEvent], now: datetime) -> None:
    if not events:
        return
    with store.transaction() as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(
            dialect.insert(gateway_receipts).on_conflict_do_nothing(),
            [
                {"source": e.source.value, "agency_id": e.agency_id, "event_id": e.event_id,
                 "received_at": now}
                for e in events
            ],
        )  # fmt: skip


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

    def publish(self, events: Sequence[OverdoseEvent], timeout_s: float = 10.0) -> None:
        """Send and wait until the broker acknowledged every one (acks=all); raises if not."""
        futures = [
            self.producer.send(
                self.settings.topic(SOURCE_TOPICS[e.source.value]),
                key=e.event_id.encode(),
                value=e.model_dump_json(exclude_none=True).encode(),
            )
            for e in events
        ]
        self.producer.flush(timeout=timeout_s)
        for future in futures:
            future.get(timeout=timeout_s)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)

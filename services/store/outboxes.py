"""The outboxes: the case events (`case_events`, to followup.cases.v1), the SMS records
(`sms_outbox`, to sms.outbound.v1 / sms.events.v1) and the spike alerts (`spike_outbox`,
to overdose.spikes.v1), as the one relay sees them
(services/runtime/outbox_relay.py); and an in-memory outbox with the same contract."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, update

from schemas.cases import CaseEvent
from schemas.codec import encode
from services.ports import OutboxRecord
from services.store.repository import Store
from services.store.tables import case_events, sms_outbox, spike_outbox
from services.topics import FOLLOWUP_CASES


class SqlOutbox:
    """One outbox table: rows with `seq`, `published_at` and what `record` makes of them."""

    def __init__(self, store: Store, table: Any, record: Callable[[Any], OutboxRecord]) -> None:
        self.store, self.table, self.record = store, table, record

    def pending(self, limit: int = 500) -> list[OutboxRecord]:
        t = self.table.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(self.table).where(t.published_at.is_(None)).order_by(t.seq).limit(limit)
            ).all()
        return [self.record(r) for r in rows]

    def mark_published(self, seqs: Sequence[int], at: datetime) -> None:
        t = self.table.c
        with self.store.transaction() as conn:
            for start in range(0, len(seqs), 500):
                conn.execute(
                    update(self.table)
                    .where(
                        and_(t.seq.in_(list(seqs[start : start + 500])), t.published_at.is_(None))
                    )
                    .values(published_at=at)
                )


_VERSION_FIRST = '{"schema_version":'


def _case_event(row: Any) -> OutboxRecord:
    """The stored payload is the event as `encode` writes it, less the `seq` it only has
    once stored: the seq goes in its place, after `schema_version`, and the bytes are
    those `encode` would give for the whole event, without decoding and encoding it
    again. A payload of another shape is decoded and encoded."""
    payload: str = row.payload
    version, comma, rest = payload.partition(",")
    if version.startswith(_VERSION_FIRST) and comma and not rest.startswith('"seq":'):
        value = f'{version},"seq":{int(row.seq)},{rest}'.encode()
    else:
        value = encode(CaseEvent.model_validate({**json.loads(payload), "seq": row.seq}))
    return OutboxRecord(row.seq, FOLLOWUP_CASES, row.program_id.encode(), value)


def _topic_record(row: Any) -> OutboxRecord:
    """A row that names its own topic, key and payload (the SMS and the spike outboxes)."""
    return OutboxRecord(row.seq, row.topic, row.key.encode(), row.payload.encode())


def case_event_outbox(store: Store) -> SqlOutbox:
    return SqlOutbox(store, case_events, _case_event)


def sms_record_outbox(store: Store) -> SqlOutbox:
    return SqlOutbox(store, sms_outbox, _topic_record)


def spike_alert_outbox(store: Store) -> SqlOutbox:
    return SqlOutbox(store, spike_outbox, _topic_record)


class MemoryOutbox:
    """The same contract in memory: for tests of what publishes from an outbox."""

    def __init__(self) -> None:
        self.records: list[OutboxRecord] = []
        self.published: dict[int, datetime] = {}

    def add(self, topic: str, key: bytes, value: bytes) -> OutboxRecord:
        record = OutboxRecord(len(self.records) + 1, topic, key, value)
        self.records.append(record)
        return record

    def pending(self, limit: int = 500) -> list[OutboxRecord]:
        return [r for r in self.records if r.seq not in self.published][:limit]

    def mark_published(self, seqs: Sequence[int], at: datetime) -> None:
        for seq in seqs:
            self.published.setdefault(seq, at)

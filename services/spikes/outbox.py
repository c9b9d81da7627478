"""The alerts' outbox (`spike_outbox`, to overdose.spikes.v1) as the one relay sees it."""

from __future__ import annotations

from typing import Any

from services.ports import OutboxRecord
from services.store.outboxes import SqlOutbox
from services.store.repository import Store
from services.store.tables_spikes import spike_outbox


def _record(row: Any) -> OutboxRecord:
    return OutboxRecord(row.seq, row.topic, row.key.encode(), row.payload.encode())


def spike_outbox_of(store: Store) -> SqlOutbox:
    return SqlOutbox(store, spike_outbox, _record)

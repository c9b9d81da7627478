"""Reading the case-event outbox as the live stream does: by `seq`, so a browser that
reconnects with `Last-Event-ID` misses nothing."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from services.store.repository import Store
from services.store.tables import case_events

LIVE_BATCH = 200


def latest_seq(store: Store, program_id: str) -> int:
    """The last case event of the program (0: none yet)."""
    with store.engine.connect() as conn:
        value = conn.execute(
            select(func.max(case_events.c.seq)).where(case_events.c.program_id == program_id)
        ).scalar_one()
    return int(value or 0)


def changes_after(store: Store, program_id: str, seq: int) -> list[tuple[int, dict[str, Any]]]:
    """The program's case events after `seq` (at most LIVE_BATCH), for the live stream."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(case_events.c.seq, case_events.c.payload)
            .where(case_events.c.program_id == program_id, case_events.c.seq > seq)
            .order_by(case_events.c.seq)
            .limit(LIVE_BATCH)
        ).all()
    return [(r.seq, json.loads(r.payload)) for r in rows]

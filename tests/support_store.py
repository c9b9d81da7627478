"""What tests read from the store to check it: counts, which case holds each event, the
case-event outbox. (Reads of the product itself live in services/store.)"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from schemas.cases import CaseEvent
from schemas.codec import decode
from services.store.outboxes import case_event_outbox
from services.store.repository import Store
from services.store.tables import cases, events


def count_cases(store: Store, program_id: str | None = None) -> int:
    query = select(func.count()).select_from(cases)
    if program_id is not None:
        query = query.where(cases.c.program_id == program_id)
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def count_events(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def count_events_handled(store: Store, handling: str) -> int:
    query = select(func.count()).select_from(events).where(events.c.handling == handling)
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def cases_per_event(store: Store) -> dict[tuple[str, str, str], list[str]]:
    """(source, agency_id, event_id) -> case ids."""
    out: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    with store.engine.connect() as conn:
        for r in conn.execute(
            select(events.c.source, events.c.agency_id, events.c.event_id, events.c.case_id)
        ):
            if r.case_id:
                out[(r.source, r.agency_id, r.event_id)].append(r.case_id)
    return out


@dataclass(frozen=True)
class PendingCaseEvent:
    seq: int
    program_id: str
    event: CaseEvent


def unpublished_case_events(store: Store) -> list[PendingCaseEvent]:
    """The case events not yet published, as the relay would send them."""
    return [
        PendingCaseEvent(r.seq, r.key.decode(), decode(CaseEvent, r.value))
        for r in case_event_outbox(store).pending()
    ]


def mark_published(store: Store, seqs: Sequence[int], at: datetime) -> None:
    case_event_outbox(store).mark_published(seqs, at)

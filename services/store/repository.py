"""Reads and writes of the system of record (SQLAlchemy Core, one engine per process)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine, and_, func, select, tuple_, update

from schemas.cases import CaseEvent, QueueItem
from services.store.tables import case_events, cases, events

EventKey = tuple[str, str, str, str]  # (kind, source, agency_id, value)


@dataclass(frozen=True)
class PendingCaseEvent:
    seq: int
    program_id: str
    event: CaseEvent


class Store:
    """The one way in and out of the SQL store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()

    # --- writes (inside a transaction) -------------------------------------------------

    @staticmethod
    def known_event_keys(conn: Connection, keys: Iterable[EventKey]) -> set[EventKey]:
        """Which of these natural keys (publisher event id, incident number) are stored."""
        by_id = {(k[1], k[2], k[3]) for k in keys if k[0] == "id"}
        by_incident = {(k[1], k[2], k[3]) for k in keys if k[0] == "incident"}
        found: set[EventKey] = set()
        for chunk in _chunks(sorted(by_id), 300):
            rows = conn.execute(
                select(events.c.source, events.c.agency_id, events.c.event_id).where(
                    tuple_(events.c.source, events.c.agency_id, events.c.event_id).in_(chunk)
                )
            )
            found.update(("id", r[0], r[1], r[2]) for r in rows)
        for chunk in _chunks(sorted(by_incident), 300):
            rows = conn.execute(
                select(events.c.source, events.c.agency_id, events.c.incident_number).where(
                    tuple_(events.c.source, events.c.agency_id, events.c.incident_number).in_(chunk)
                )
            )
            found.update(("incident", r[0], r[1], r[2]) for r in rows)
        return found

    # --- the case-event outbox ---------------------------------------------------------

    def unpublished_case_events(self, limit: int = 500) -> list[PendingCaseEvent]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(case_events.c.seq, case_events.c.program_id, case_events.c.payload)
                .where(case_events.c.published_at.is_(None))
                .order_by(case_events.c.seq)
                .limit(limit)
            ).all()
        return [
            PendingCaseEvent(
                seq=r.seq,
                program_id=r.program_id,
                event=CaseEvent.model_validate({**json.loads(r.payload), "seq": r.seq}),
            )
            for r in rows
        ]

    def mark_published(self, seqs: Sequence[int], at: datetime) -> None:
        with self.transaction() as conn:
            for chunk in _chunks(list(seqs), 500):
                conn.execute(
                    update(case_events)
                    .where(and_(case_events.c.seq.in_(chunk), case_events.c.published_at.is_(None)))
                    .values(published_at=at)
                )

    # --- reads -------------------------------------------------------------------------

    def queue(self, program_id: str, limit: int = 500) -> list[QueueItem]:
        """Open cases in QRT priority order: tier, earliest due, earliest occurrence."""
        from services.store.queue_reads import QueueFilters, queue_page

        with self.engine.connect() as conn:
            return queue_page(conn, program_id, QueueFilters(), limit=limit).items

    def count_cases(self, program_id: str | None = None) -> int:
        query = select(func.count()).select_from(cases)
        if program_id is not None:
            query = query.where(cases.c.program_id == program_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def count_events(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(events)).scalar_one())

    def count_events_handled(self, handling: str) -> int:
        query = select(func.count()).select_from(events).where(events.c.handling == handling)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def cases_per_event(self) -> dict[tuple[str, str, str], list[str]]:
        """(source, agency_id, event_id) -> case ids: used by checks and tests."""
        out: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        with self.engine.connect() as conn:
            for r in conn.execute(
                select(events.c.source, events.c.agency_id, events.c.event_id, events.c.case_id)
            ):
                if r.case_id:
                    out[(r.source, r.agency_id, r.event_id)].append(r.case_id)
        return out

    def event_exists(self, source: str, agency_id: str, event_id: str) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(
                    select(events.c.id).where(
                        events.c.source == source,
                        events.c.agency_id == agency_id,
                        events.c.event_id == event_id,
                    )
                ).first()
                is not None
            )


T = TypeVar("T")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

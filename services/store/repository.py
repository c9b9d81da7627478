"""Reads and writes of the system of record (SQLAlchemy Core, one engine per process)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine, select, tuple_

from schemas.cases import QueueItem
from services.store.tables import events

EventKey = tuple[str, str, str, str]  # (kind, source, agency_id, value)


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

    # --- reads -------------------------------------------------------------------------

    def queue(self, program_id: str, limit: int = 500) -> list[QueueItem]:
        """Open cases in QRT priority order: tier, earliest due, earliest occurrence."""
        from services.store.queue_reads import QueueFilters, queue_page

        with self.engine.connect() as conn:
            return queue_page(conn, program_id, QueueFilters(), limit=limit).items


T = TypeVar("T")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

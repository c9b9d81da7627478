"""Reads and writes of the system of record (SQLAlchemy Core, one engine per process)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine, and_, select

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
        """Which of these natural keys (publisher event id, incident number) are stored.

        Asked per (source, agency) with the values in one `IN (...)`: the unique indexes
        lead with source and agency, so each lookup is an index search (a row-value
        `IN` of whole keys makes SQLite scan the index)."""
        wanted: dict[tuple[str, str, str], set[str]] = {}
        for kind, source, agency_id, value in keys:
            wanted.setdefault((kind, source, agency_id), set()).add(value)
        found: set[EventKey] = set()
        for (kind, source, agency_id), values in sorted(wanted.items()):
            column = {"id": events.c.event_id, "incident": events.c.incident_number}[kind]
            for chunk in _chunks(sorted(values), 300):
                rows = conn.execute(
                    select(column).where(
                        and_(
                            events.c.source == source,
                            events.c.agency_id == agency_id,
                            column.in_(chunk),
                        )
                    )
                )
                found.update((kind, source, agency_id, value) for (value,) in rows)
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

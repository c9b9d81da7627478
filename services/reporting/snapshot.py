"""Reading one report's figures from one snapshot of the store.

On PostgreSQL the figures are read in REPEATABLE READ (one snapshot), without JIT
compilation (the statements run in milliseconds; compiling them took longer), with
memory enough for a year's groups and sorts, and in two halves at once: the connection
that exported its snapshot (`pg_export_snapshot`, as pg_dump does) reads one half, a
second connection that imported it (`SET TRANSACTION SNAPSHOT`) reads the other in a
thread; both see exactly the same rows. Each statement keeps to one core (no parallel
workers: on a small machine they cost more than they gave), and is planned for its own
period (statements the driver has prepared would otherwise, after a few runs, get a
generic plan, which made a year's report four times slower). On SQLite both halves are
read one after the other on the one connection."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, text

from services.store.repository import Store

A = TypeVar("A")
B = TypeVar("B")
SNAPSHOT_ID = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")
TUNING = ("SET LOCAL jit = off", "SET LOCAL work_mem = '64MB'",
          "SET LOCAL max_parallel_workers_per_gather = 0",
          "SET LOCAL plan_cache_mode = force_custom_plan")  # fmt: skip


@contextmanager
def report_connection(store: Store, snapshot: str | None = None) -> Iterator[Connection]:
    """A connection in a read transaction, tuned as the module doc says; on PostgreSQL
    with the exported `snapshot`, if given."""
    with store.engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            with conn.begin():
                yield conn
            return
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            if snapshot is not None:  # the transaction's first statement
                if not SNAPSHOT_ID.match(snapshot):
                    raise ValueError(f"not a snapshot id: {snapshot!r}")
                conn.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
            for statement in TUNING:
                conn.execute(text(statement))
            yield conn


def read_both(
    store: Store, conn: Connection, first: Callable[[Connection], A],
    second: Callable[[Connection], B],
) -> tuple[A, B]:  # fmt: skip
    """`first(conn)` and `second(...)` on the same snapshot (module doc)."""
    if conn.dialect.name != "postgresql":
        return first(conn), second(conn)
    snapshot = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())

    def other() -> B:
        with report_connection(store, snapshot) as imported:
            return second(imported)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="report") as pool:
        later = pool.submit(other)
        try:
            done = first(conn)
        finally:
            result = later.result()
    return done, result

"""Rate limits as token buckets kept in the store, so every API process agrees.

A bucket holds up to `burst` tokens and gains `per_minute` a minute; a request takes
one (or a lease of several, `take(count=...)`, which the gateway spends in memory so
that its hot path seldom writes). An empty bucket answers how long to wait (429 with
Retry-After). The first refusal of a key in each WINDOW is written to the audit log,
once, however many follow: an unauthenticated caller cannot grow the log without bound.
Sign-ins are limited per source address and per account before any password is hashed;
gateway calls per agency key and per source address."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.store.case_records import audit
from services.store.repository import Store
from services.store.tables import rate_buckets

WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class Rate:
    per_minute: float
    burst: float

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


@dataclass(frozen=True)
class Taken:
    granted: float  # tokens given (0 when refused)
    wait_s: float  # when refused: seconds until one token is there again

    @property
    def refused(self) -> bool:
        return self.granted <= 0

    @property
    def retry_after(self) -> str:
        return str(max(1, math.ceil(self.wait_s)))


def take(store: Store, key: str, rate: Rate, now: datetime, *, count: float = 1.0) -> Taken:
    """Up to `count` tokens from the bucket `key` (at least one, else refused)."""
    with store.transaction() as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(
            dialect.insert(rate_buckets)
            .values(key=key, tokens=rate.burst, updated_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        query = select(rate_buckets).where(rate_buckets.c.key == key)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).one()
        elapsed = max(0.0, (now - row.updated_at).total_seconds())
        tokens = min(rate.burst, row.tokens + elapsed * rate.per_second)
        granted = float(min(count, math.floor(tokens)))
        changes: dict[str, object] = {"tokens": tokens - granted, "updated_at": now}
        if granted <= 0:
            first = row.limited_since is None or now - row.limited_since >= WINDOW
            if first:
                changes["limited_since"] = now
                kind, _, subject = key.partition(":")
                audit(conn, now, "system", "rate_limited", kind[:24], subject[:64],
                      {"per_minute": rate.per_minute})  # fmt: skip
        conn.execute(update(rate_buckets).where(rate_buckets.c.key == key).values(**changes))
    wait = 0.0 if granted > 0 else (1.0 - (tokens - math.floor(tokens))) / rate.per_second
    return Taken(granted, wait)


class Lease:
    """Tokens taken from the store a second's worth at a time and spent in memory: the
    gateway's limit costs one small write a second per key, not one a request."""

    def __init__(self, store: Store, rate: Rate) -> None:
        self.store, self.rate = store, rate
        self._held: dict[str, tuple[float, float]] = {}  # key -> (tokens, until monotonic)
        self._lock = threading.Lock()

    def from_memory(self, key: str) -> bool:
        """One token from what this process holds for `key`, without the store."""
        with self._lock:
            tokens, until = self._held.get(key, (0.0, 0.0))
            if tokens >= 1 and time.monotonic() < until:
                self._held[key] = (tokens - 1, until)
                return True
        return False

    def allow(self, key: str, now: datetime) -> Taken:
        if self.from_memory(key):
            return Taken(1.0, 0.0)
        chunk = max(1.0, math.floor(self.rate.per_second))
        taken = take(self.store, key, self.rate, now, count=chunk)
        if taken.refused:
            return taken
        with self._lock:
            if len(self._held) > 10_000:
                self._held.clear()
            self._held[key] = (taken.granted - 1, time.monotonic() + 1.0)
        return Taken(1.0, 0.0)

"""Kept dead letters (`rejections`): written once each, read by scope, the original
opened for an admin only, audited.

The row's key (`letter_key`) is a keyed hash (the blind index key) of the letter's
natural key: the origin's topic, partition and offset, the reason and a SHA-256 of the
original bytes. The same dead letter delivered twice, or the same record rejected again
after a crash, is stored once; a record published again after the embedded broker's
memory was lost (its offsets start over) differs in its bytes or its place, and is kept.
The original bytes are sealed with the associated data `rejections.original:<key>`, so
a sealed value moved to another row does not open."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, false, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from services.crypto.fields import FieldCipher
from services.ingest.rejections import (
    COUNTED_HOURS,
    Letter,
    RejectionCount,
    RejectionFacts,
    RejectionList,
    RejectionScope,
    RejectionView,
    letter_facts,
    reason_words,
)
from services.programs import Programs
from services.runtime.retry import describe, isolate
from services.store.case_records import audit
from services.store.repository import Store
from services.store.tables import rejections

LISTED = [c for c in rejections.c if c.name not in ("original_sealed", "letter_key")]


def _aad(letter_key: str) -> str:
    return f"rejections.original:{letter_key}"


def _row(cipher: FieldCipher, facts: RejectionFacts, now: datetime) -> dict[str, Any]:
    key = cipher.blind("rejection", facts.natural_key)
    return {
        "letter_key": key,
        "reason": facts.reason,
        "detail": facts.detail,
        "field_errors": json.dumps([e.model_dump() for e in facts.errors]),
        "agency_id": facts.agency_id,
        "source": facts.source,
        "program_id": facts.program_id,
        "origin_topic": facts.origin_topic,
        "origin_partition": facts.origin_partition,
        "origin_offset": facts.origin_offset,
        "rejected_at": facts.rejected_at,
        "stored_at": now,
        "original_size": facts.original_size,
        "original_sealed": cipher.seal(facts.original_b64, _aad(key)),
    }


def keep_rejections(
    store: Store, cipher: FieldCipher, facts: Sequence[RejectionFacts], now: datetime
) -> int:
    """The rejections not yet kept, in one transaction; how many were new."""
    rows: dict[str, dict[str, Any]] = {}
    for one in facts:
        row = _row(cipher, one, now)
        rows.setdefault(row["letter_key"], row)  # the first of a letter delivered twice
    if not rows:
        return 0
    with store.transaction() as conn:
        known = set(
            conn.execute(
                select(rejections.c.letter_key).where(rejections.c.letter_key.in_(list(rows)))
            ).scalars()
        )
        new = [row for key, row in rows.items() if key not in known]
        if new:  # a concurrent writer of the same letter: nothing twice
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            conn.execute(dialect.insert(rejections).on_conflict_do_nothing(), new)
    return len(new)


def keep_letters_or_refuse(
    store: Store, cipher: FieldCipher, programs: Programs, letters: Sequence[Letter],
    now: datetime,
) -> list[tuple[Letter, str]]:  # fmt: skip
    """Every letter kept (a repeat once); those the store refuses for their data, found
    by halving the batch, come back with the reason. An outage is raised."""

    def attempt(chunk: Sequence[Letter]) -> None:
        keep_rejections(store, cipher, [letter_facts(x, programs, now) for x in chunk], now)

    return [(letter, describe(exc)) for letter, exc in isolate(letters, attempt)]


def _scoped(query: Select[Any], scope: RejectionScope, agency: str | None) -> Select[Any]:
    if agency is not None:
        query = query.where(rejections.c.agency_id == agency)
    if scope.everything:
        return query
    seen: ColumnElement[bool] = (
        rejections.c.program_id.in_(scope.programs) if scope.programs else false()
    )
    if scope.unrouted:
        seen = or_(seen, rejections.c.program_id.is_(None))
    return query.where(seen)


def rejection_list(
    conn: Connection, scope: RejectionScope, *, since: datetime, now: datetime,
    agency: str | None = None, limit: int = 100,
) -> RejectionList:  # fmt: skip
    """Newest first since `since`, with the counts per agency and reason of the last
    24 h; never the original bytes."""
    counted_since = now - timedelta(hours=COUNTED_HOURS)
    n = func.count().label("n")
    counted = conn.execute(
        _scoped(select(rejections.c.agency_id, rejections.c.reason, n), scope, agency)
        .where(rejections.c.rejected_at >= counted_since)
        .group_by(rejections.c.agency_id, rejections.c.reason)
        .order_by(n.desc(), rejections.c.agency_id, rejections.c.reason)
    ).all()
    total = conn.execute(
        _scoped(select(func.count()), scope, agency).where(rejections.c.rejected_at >= since)
    ).scalar_one()
    rows = conn.execute(
        _scoped(select(*LISTED), scope, agency)
        .where(rejections.c.rejected_at >= since)
        .order_by(rejections.c.rejected_at.desc(), rejections.c.id.desc())
        .limit(limit)
    ).all()
    return RejectionList(
        since=since,
        counted_since=counted_since,
        counts=[
            RejectionCount(
                agency_id=r.agency_id,
                reason=r.reason,
                reason_words=reason_words(r.reason),
                count=r.n,
            )
            for r in counted
        ],
        total=total,
        items=[_view(r) for r in rows],
    )


def _view(row: Any) -> RejectionView:
    values = {c.name: getattr(row, c.name) for c in LISTED if c.name != "field_errors"}
    return RejectionView(
        **values, reason_words=reason_words(row.reason), errors=json.loads(row.field_errors)
    )


def read_original(
    store: Store, cipher: FieldCipher, rejection_id: int, actor: str, now: datetime
) -> bytes | None:
    """The original bytes (as kept: at most the first MiB), opened and audited in one
    transaction; None when there is no such rejection."""
    with store.transaction() as conn:
        row = conn.execute(
            select(rejections.c.letter_key, rejections.c.original_sealed).where(
                rejections.c.id == rejection_id
            )
        ).first()
        if row is None:
            return None
        sealed = row.original_sealed  # "" once the retention job removed it: no bytes
        original = base64.b64decode(cipher.open(sealed, _aad(row.letter_key))) if sealed else b""
        audit(conn, now, actor, "rejection_original_read", "rejection", str(rejection_id),
              {"bytes": len(original)})  # fmt: skip
    return original

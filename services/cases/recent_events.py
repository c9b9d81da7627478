"""The reports of open cases that a batch's reports may be the same overdose as (services/
core/cases.py `same_incident`: another source, within the program's
`incident_merge_minutes`, the same person or a shared scene token), found through
indexes: those of the persons the batch's reports may resolve to, and those with one of
the reports' scene tokens, in the hours around the batch. The other reports of a busy
program's hours are never read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, func, literal_column, select

from schemas.cases import CaseStatus
from schemas.overdose_event import Source
from services.core import cases as core
from services.crypto.fields import BLIND_CHARS
from services.store.tables import cases, events

T = TypeVar("T")
PER_QUERY = 500  # persons, or tokens, per IN (...)

# A stored report's `scene_tokens` is at most two blind tokens, space-separated. Each has
# an index (migration 0018: substr(scene_tokens, 1, 32) and substr(scene_tokens, 34, 32)),
# used only for an expression written as indexed, its numbers literal.
_SCENE_FIRST, _SCENE_SECOND = (
    func.substr(events.c.scene_tokens, literal_column(str(start)), literal_column(str(BLIND_CHARS)))
    for start in (1, BLIND_CHARS + 2)
)
_COLUMNS = (
    events.c.id, events.c.case_id, events.c.person_id, events.c.source, events.c.occurred_at,
    events.c.scene_tokens, cases.c.program_id, cases.c.status,
)  # fmt: skip


def recent_events(
    conn: Connection,
    program_id: str,
    margin: timedelta,
    times: Sequence[datetime],
    persons: set[str],
    probes: set[str],
) -> core.RecentIndex:
    """What `RecentIndex.near` can give for these persons and scene tokens: the reports
    of the program's open cases within `margin` of the batch's times (module doc)."""
    found: dict[int, core.Recent] = {}
    if not times:
        return core.RecentIndex()
    near_batch = and_(
        events.c.source != Source.REFERRAL.value,  # a referral is no incident
        events.c.occurred_at >= min(times) - margin,
        events.c.occurred_at <= max(times) + margin,
    )
    tokens = sorted(probes)
    for match, wanted in (
        (events.c.person_id, sorted(persons)), (_SCENE_FIRST, tokens), (_SCENE_SECOND, tokens),
    ):  # fmt: skip
        for some in _chunks(wanted, PER_QUERY):
            query = select(*_COLUMNS).join(cases, cases.c.id == events.c.case_id)
            _add(found, program_id, conn.execute(query.where(near_batch, match.in_(some))))
    return core.RecentIndex([found[row_id] for row_id in sorted(found)])


def _add(found: dict[int, core.Recent], program_id: str, rows: Any) -> None:
    for r in rows:
        # the case's program and state are checked here: asked in the query, they would
        # make SQLite walk the program's open cases instead of the index
        if r.program_id == program_id and r.status == CaseStatus.OPEN.value and r.id not in found:
            scene = set(r.scene_tokens.split()) if r.scene_tokens else set()
            found[r.id] = core.Recent(r.case_id, r.person_id, r.source, r.occurred_at, scene)


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

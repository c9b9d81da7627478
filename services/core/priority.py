"""The QRT priority order, in one place: higher tier first (rank 0 is `new`: never
contacted; then `unlocated`; then `deferred`), then the earliest deadline, then the
oldest overdose, then the case id (so the order is total). The planner places cases in
this order; the queue, the shift plan and the CSV export list them in it."""

from __future__ import annotations

from datetime import datetime

# the `cases` columns the store sorts by, in this order
PRIORITY_COLUMNS = ("tier_rank", "window_due_at", "occurred_at", "id")

PriorityKey = tuple[int, datetime, datetime, str]


def priority_key(
    tier_rank: int, due_at: datetime, occurred_at: datetime, case_id: str
) -> PriorityKey:
    return (tier_rank, due_at, occurred_at, case_id)

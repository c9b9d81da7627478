"""Spike alerts raised in the period (by `raised_at`): how many, by kind of area, per
month or week, their size and the minutes from the overdose that reached the threshold
to the alert. Read from the alerts' counts and times only: they name no person."""

from __future__ import annotations

import statistics

from sqlalchemy import select

from schemas.report import SpikeFigures, named
from services.reporting.scope import Scope
from services.reporting.sql_parts import in_range
from services.store.tables import spike_alerts


def spike_figures(scope: Scope) -> SpikeFigures:
    a = spike_alerts.c
    rows = scope.conn.execute(
        select(a.area_kind, a.count, a.started_at, a.raised_at).where(
            a.program_id == scope.program.id,
            in_range(a.raised_at, scope.period.start_utc, scope.period.end_utc),
        )
    ).all()
    if not rows:
        return SpikeFigures(alerts=0, by_area_kind=[], by_period=[])
    kinds: dict[str, int] = {}
    for row in rows:
        kinds[row.area_kind] = kinds.get(row.area_kind, 0) + 1
    per_bucket = [
        (b.start.isoformat(), sum(1 for r in rows if b.start_utc <= r.raised_at < b.end_utc))
        for b in scope.buckets
    ]
    sizes = [int(r._mapping["count"]) for r in rows]
    minutes = [max((r.raised_at - r.started_at).total_seconds() / 60, 0.0) for r in rows]
    return SpikeFigures(
        alerts=len(rows),
        by_area_kind=named(sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))),
        by_period=named(per_bucket),
        largest=max(sizes),
        median_size=float(statistics.median(sizes)),
        median_minutes_to_alert=round(statistics.median(minutes), 1),
        max_minutes_to_alert=round(max(minutes), 1),
    )

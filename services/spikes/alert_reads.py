"""Reading the alerts back: a program's list (open first, newest first), one alert, a
mark that changes whenever any of the program's alerts does (the live stream's), and an
alert's area in detail: its counted reports per hour and their places (for the map)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select

from schemas.spikes import AlertChange, SpikeAlert
from services.crypto.fields import FieldCipher
from services.spikes.alert_rows import alert_of, area_column
from services.spikes.areas import AreaKind
from services.spikes.reports import open_place
from services.store.repository import Store
from services.store.tables_spikes import spike_alerts, spike_reports


def _change(row: Any) -> AlertChange:
    if row.ended_at is not None:
        return AlertChange.ENDED
    return AlertChange.RAISED if row.revision == 1 else AlertChange.UPDATED


def list_alerts(
    store: Store, program_id: str, *, open_only: bool = False, limit: int = 100
) -> list[SpikeAlert]:
    a = spike_alerts.c
    query = select(spike_alerts).where(a.program_id == program_id)
    if open_only:
        query = query.where(a.ended_at.is_(None))
    query = query.order_by(a.ended_at.is_not(None), a.raised_at.desc(), a.id).limit(limit)
    with store.engine.connect() as conn:
        return [alert_of(r._asdict(), _change(r)) for r in conn.execute(query)]


def get_alert(store: Store, program_id: str, alert_id: str) -> SpikeAlert | None:
    a = spike_alerts.c
    with store.engine.connect() as conn:
        row = conn.execute(
            select(spike_alerts).where(and_(a.program_id == program_id, a.id == alert_id))
        ).first()
    return None if row is None else alert_of(row._asdict(), _change(row))


def alerts_mark(store: Store, program_id: str) -> tuple[int, int]:
    """(alerts, sum of revisions): changes whenever an alert is raised, grows or ends."""
    a = spike_alerts.c
    with store.engine.connect() as conn:
        count, revisions = conn.execute(
            select(func.count(), func.coalesce(func.sum(a.revision), 0)).where(
                a.program_id == program_id
            )
        ).one()
    return int(count), int(revisions)


@dataclass(frozen=True)
class AreaDetail:
    hours: list[tuple[datetime, int, int]]  # (hour, overdoses, of which fatal)
    places: list[tuple[float, float, bool]]  # (lat, lon, fatal) of those with a place
    without_place: int


def area_detail(store: Store, cipher: FieldCipher, alert: SpikeAlert) -> AreaDetail:
    """The alert's area from one window before its first overdose to its end (or now)."""
    t, column = spike_reports.c, area_column(AreaKind(alert.area_kind))
    since = alert.first_event_at - timedelta(hours=alert.window_hours)
    until = alert.ended_at or alert.updated_at
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(t.occurred_at, t.fatal, t.place_sealed, t.report_token)
            .where(
                and_(
                    t.program_id == alert.program_id,
                    column == alert.area,
                    t.counted.is_(True),
                    t.occurred_at >= since,
                    t.occurred_at <= until,
                )
            )
            .order_by(t.occurred_at)
        ).all()
    hours: dict[datetime, list[int]] = {}
    places, without = [], 0
    for at, fatal, sealed, token in rows:
        hour = at.replace(minute=0, second=0, microsecond=0)
        counts = hours.setdefault(hour, [0, 0])
        counts[0] += 1
        counts[1] += int(bool(fatal))
        if sealed:
            lat, lon = open_place(cipher, sealed, token)
            places.append((lat, lon, bool(fatal)))
        else:
            without += 1
    return AreaDetail(
        hours=[(h, n, f) for h, (n, f) in sorted(hours.items())],
        places=places,
        without_place=without,
    )

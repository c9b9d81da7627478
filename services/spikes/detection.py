"""The spike worker's store: a batch of intake records in, the alerts it raised or grew
out, in one transaction with the alerts' outbox rows and on-call texts.

A report is kept once per program and blind token; a report from another source of the
same scene within the program's `incident_merge_minutes` is kept but not counted (one
incident, two reports). A spike is judged at the worker's clock: the window that ends
now must hold the threshold, so a backlog of old reports raises nothing. One alert is
open per area and rule (a partial unique index): a redelivered batch or a restart finds
it and can only update it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite

from schemas.intake import IntakeRecord
from schemas.spikes import AlertChange, SpikeAlert
from services.crypto.fields import FieldCipher
from services.programs import Program, Programs
from services.spikes.alert_rows import alert_of, area_column, queue_changes
from services.spikes.areas import AreaKind
from services.spikes.reports import ReportRow, report_row
from services.spikes.settings import rule_name
from services.spikes.thresholds import SpikeState, Threshold, spike_at
from services.store.repository import Store
from services.store.tables_spikes import spike_alerts, spike_reports, spike_scenes

BASELINE = timedelta(weeks=8)


def record_batch(
    store: Store, cipher: FieldCipher, records: Sequence[IntakeRecord], programs: Programs,
    now: datetime,
) -> list[SpikeAlert]:  # fmt: skip
    """Keep the batch's reports; raise or update the alerts they make. Idempotent."""
    by_program: dict[str, list[ReportRow]] = {}
    for record in records:
        program = programs.get(record.program_id)
        row = report_row(cipher, record) if program and program.spikes.enabled else None
        if row is not None:
            by_program.setdefault(row.program_id, []).append(row)
    changes: list[SpikeAlert] = []
    with store.transaction() as conn:
        for program_id, rows in sorted(by_program.items()):
            program = programs.get(program_id)
            assert program is not None
            counted = _keep_new(conn, program, rows, now)
            if counted:
                changes += _judge(conn, program, counted, now)
        queue_changes(conn, cipher, programs, changes, now)
    return changes


def _keep_new(
    conn: Connection, program: Program, rows: list[ReportRow], now: datetime
) -> list[ReportRow]:
    """Insert the reports not yet kept; return those that count (first of an incident)."""
    t = spike_reports.c
    fresh = list({row.token: row for row in rows}.values())
    known = set(
        conn.execute(
            select(t.report_token).where(
                and_(t.program_id == program.id, t.report_token.in_([r.token for r in fresh]))
            )
        ).scalars()
    )
    fresh = sorted((r for r in fresh if r.token not in known), key=lambda r: r.occurred_at)
    if not fresh:
        return []
    merge = timedelta(minutes=program.matching.incident_merge_minutes)
    seen = _scenes(conn, program.id, fresh, merge)
    counted, values = [], []
    for row in fresh:
        second = any(
            source != row.source and abs(at - row.occurred_at) <= merge
            for token in row.scene
            for source, at in seen.get(token, [])
        )
        for token in row.scene:
            seen.setdefault(token, []).append((row.source, row.occurred_at))
        values.append(row.values(now, counted=not second))
        if not second:
            counted.append(row)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(spike_reports).on_conflict_do_nothing(), values)
    ids = dict(
        conn.execute(
            select(t.report_token, t.id).where(
                and_(t.program_id == program.id, t.report_token.in_([r.token for r in fresh]))
            )
        ).all()
    )
    scenes = [
        {"program_id": program.id, "token": token, "report_id": ids[r.token],
         "source": r.source, "occurred_at": r.occurred_at}
        for r in fresh
        for token in r.scene
    ]  # fmt: skip
    if scenes:
        conn.execute(dialect.insert(spike_scenes).on_conflict_do_nothing(), scenes)
    return counted


def _scenes(
    conn: Connection, program_id: str, fresh: list[ReportRow], merge: timedelta
) -> dict[str, list[tuple[str, datetime]]]:
    """The kept reports sharing a scene token with the batch, near enough in time."""
    s = spike_scenes.c
    tokens = sorted({token for row in fresh for token in row.scene})
    seen: dict[str, list[tuple[str, datetime]]] = {}
    for start in range(0, len(tokens), 300):
        for token, source, at in conn.execute(
            select(s.token, s.source, s.occurred_at).where(
                and_(
                    s.program_id == program_id,
                    s.token.in_(tokens[start : start + 300]),
                    s.occurred_at >= fresh[0].occurred_at - merge,
                    s.occurred_at <= fresh[-1].occurred_at + merge,
                )
            )
        ):
            seen.setdefault(token, []).append((source, at))
    return seen


def _judge(
    conn: Connection, program: Program, counted: list[ReportRow], now: datetime
) -> list[SpikeAlert]:
    """Grow the open alerts the batch adds to; look for a new spike in the other areas."""
    a = spike_alerts.c
    open_alerts = {
        (row.area_kind, row.area, row.rule): row
        for row in conn.execute(
            select(spike_alerts).where(and_(a.program_id == program.id, a.ended_at.is_(None)))
        )
    }
    changes = []
    for kind, rule in program.spikes.rules().items():
        names = sorted({name for row in counted if (name := row.area(kind)) is not None})
        quiet = []
        for name in names:
            alert = open_alerts.get((kind.value, name, rule_name(rule)))
            if alert is None:
                quiet.append(name)
                continue
            added = [r for r in counted if r.area(kind) == name
                     and alert.first_event_at <= r.occurred_at <= now]  # fmt: skip
            if added:
                changes.append(_grow(conn, alert, added, now))
        if quiet:
            history = area_history(conn, program.id, kind, quiet, now - 2 * rule.window, now)
            for name in quiet:
                times = history.get(name, [])
                state = spike_at([at for at, _ in times], now, rule)
                if state is not None:
                    changes.append(_raise(conn, program, kind, name, rule, state, times, now))
    return changes


def area_history(
    conn: Connection, program_id: str, kind: AreaKind, names: list[str], since: datetime,
    until: datetime,
) -> dict[str, list[tuple[datetime, bool]]]:  # fmt: skip
    """The counted reports of these areas in (since, until], oldest first."""
    t, column = spike_reports.c, area_column(kind)
    found: dict[str, list[tuple[datetime, bool]]] = {}
    rows = conn.execute(
        select(column, t.occurred_at, t.fatal)
        .where(
            and_(
                t.program_id == program_id,
                column.in_(names),
                t.counted.is_(True),
                t.occurred_at > since,
                t.occurred_at <= until,
            )
        )
        .order_by(t.occurred_at)
    )
    for name, at, fatal in rows:
        found.setdefault(name, []).append((at, bool(fatal)))
    return found


def _grow(conn: Connection, alert: Any, added: list[ReportRow], now: datetime) -> SpikeAlert:
    """An open alert's new reports: counted once each (a redelivered one is not new)."""
    values = {
        "count": alert._mapping["count"] + len(added),
        "fatal": alert.fatal + sum(1 for r in added if r.fatal),
        "last_event_at": max(alert.last_event_at, *(r.occurred_at for r in added)),
        "updated_at": now,
        "revision": alert.revision + 1,
    }
    conn.execute(spike_alerts.update().where(spike_alerts.c.id == alert.id).values(**values))
    return alert_of({**alert._asdict(), **values}, AlertChange.UPDATED)


def _raise(
    conn: Connection, program: Program, kind: AreaKind, name: str, rule: Threshold,
    state: SpikeState, history: list[tuple[datetime, bool]], now: datetime,
) -> SpikeAlert:  # fmt: skip
    spike = [(at, fatal) for at, fatal in history if at > state.started_at - rule.window]
    first = spike[0][0]
    before = _count_between(conn, program.id, kind, name, first - BASELINE, first)
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),  # once per spike: the open-alert index, not the id
        "program_id": program.id, "area_kind": kind.value, "area": name, "method": "threshold",
        "rule": rule_name(rule), "threshold": rule.count,
        "window_hours": rule.window.total_seconds() / 3600, "count": len(spike),
        "fatal": sum(1 for _, fatal in spike if fatal),
        "expected": round(before * (rule.window / BASELINE), 3), "first_event_at": first,
        "started_at": state.started_at, "last_event_at": state.last_at, "raised_at": now,
        "updated_at": now, "ended_at": None, "revision": 1,
    }  # fmt: skip
    conn.execute(spike_alerts.insert().values(**values))
    return alert_of(values, AlertChange.RAISED)


def in_window_count(
    conn: Connection, program_id: str, kind: AreaKind, name: str, now: datetime,
    window: timedelta,
) -> int:  # fmt: skip
    """The counted reports of an area in the window that ends now."""
    return _count_between(conn, program_id, kind, name, now - window, now, closed_end=True)


def _count_between(
    conn: Connection, program_id: str, kind: AreaKind, name: str, start: datetime, end: datetime,
    *, closed_end: bool = False,
) -> int:  # fmt: skip
    t, column = spike_reports.c, area_column(kind)
    window = (
        and_(t.occurred_at > start, t.occurred_at <= end)
        if closed_end
        else and_(t.occurred_at >= start, t.occurred_at < end)
    )
    return int(
        conn.execute(
            select(func.count()).where(
                and_(t.program_id == program_id, column == name, t.counted.is_(True), window)
            )
        ).scalar_one()
    )

"""The spike worker's timer: an open alert ends once the window that ends now holds
fewer than its threshold (a count on the area's index, not its history), or once its
program no longer alerts on that rule; reports older than REPORT_DAYS are deleted (the
8-week baseline needs 56)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from schemas.spikes import AlertChange, SpikeAlert
from services.crypto.fields import FieldCipher
from services.programs import Programs
from services.spikes.alert_rows import alert_of, queue_changes
from services.spikes.areas import AreaKind
from services.spikes.detection import in_window_count
from services.spikes.settings import rule_name
from services.store.repository import Store
from services.store.tables_spikes import spike_alerts, spike_reports, spike_scenes

REPORT_DAYS = 90


def end_cleared(
    store: Store, cipher: FieldCipher, programs: Programs, now: datetime
) -> list[SpikeAlert]:
    a = spike_alerts.c
    ended = []
    with store.transaction() as conn:
        for row in conn.execute(select(spike_alerts).where(a.ended_at.is_(None))).all():
            program = programs.get(row.program_id)
            kind = AreaKind(row.area_kind)
            rule = program.spikes.rules().get(kind) if program else None
            if rule is not None and rule_name(rule) == row.rule:
                held = in_window_count(conn, row.program_id, kind, row.area, now, rule.window)
                if held >= rule.count:
                    continue
            values = {"ended_at": now, "updated_at": now, "revision": row.revision + 1}
            conn.execute(spike_alerts.update().where(a.id == row.id).values(**values))
            ended.append(alert_of({**row._asdict(), **values}, AlertChange.ENDED))
        queue_changes(conn, cipher, programs, ended, now)
    return ended


def purge_old_reports(store: Store, now: datetime) -> int:
    cutoff = now - timedelta(days=REPORT_DAYS)
    with store.transaction() as conn:
        conn.execute(delete(spike_scenes).where(spike_scenes.c.occurred_at < cutoff))
        done = conn.execute(delete(spike_reports).where(spike_reports.c.occurred_at < cutoff))
    return int(done.rowcount or 0)

"""An alert row as the record the topic and the API carry, and what a change of one
queues in the same transaction: its outbox row to `overdose.spikes.v1` and, when raised,
one text per on-call number (the number stays in the programs file; the row holds its
blind token). A text says the program, the area, the count, the window and the rule:
nothing of any person."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection
from sqlalchemy.dialects import postgresql, sqlite

from schemas.codec import encode
from schemas.spikes import AlertChange, SpikeAlert
from services.crypto.fields import FieldCipher
from services.programs import Program, Programs
from services.sms.consent import phone_token
from services.spikes.areas import AreaKind
from services.store.tables_spikes import spike_outbox, spike_reports, spike_texts
from services.topics import OVERDOSE_SPIKES

AREA_WORDS = {"zip": "ZIP", "county": "county", "grid": "the 1 km cell"}


def area_column(kind: AreaKind) -> Column[Any]:
    c = spike_reports.c
    return {AreaKind.ZIP: c.zip5, AreaKind.COUNTY: c.county, AreaKind.GRID: c.grid}[kind]


def alert_of(values: Mapping[str, Any], change: AlertChange) -> SpikeAlert:
    fields = {k: v for k, v in values.items() if k != "id" and k in SpikeAlert.model_fields}
    return SpikeAlert(alert_id=values["id"], change=change, **fields)


def text_body(program: Program, alert: SpikeAlert) -> str:
    """The on-call text: program, area, count, window, rule; the time in the program's zone."""
    since = alert.first_event_at.astimezone(program.zone).strftime("%a %H:%M")
    area = f"{AREA_WORDS.get(alert.area_kind, alert.area_kind)} {alert.area}"
    return (
        f"QRT spike alert, {program.name}: {alert.count} overdoses in {area} since {since} "
        f"({alert.rule}; usually {alert.expected:g} in {alert.window_hours:g} h). "
        "See Alerts in the queue."
    )


def queue_changes(
    conn: Connection, cipher: FieldCipher, programs: Programs, changes: Sequence[SpikeAlert],
    now: datetime,
) -> None:  # fmt: skip
    if not changes:
        return
    conn.execute(
        spike_outbox.insert(),
        [
            {"topic": OVERDOSE_SPIKES, "key": a.program_id, "payload": encode(a).decode(),
             "created_at": now}
            for a in changes
        ],
    )  # fmt: skip
    texts = []
    for alert in changes:
        program = programs.get(alert.program_id)
        if alert.change is not AlertChange.RAISED or program is None:
            continue
        body = text_body(program, alert)
        texts += [
            {"alert_id": alert.alert_id, "program_id": program.id,
             "phone_token": phone_token(cipher, staff.phone), "body": body,
             "status": "pending", "due_at": now, "attempts": 0}
            for staff in program.spikes.on_call
        ]  # fmt: skip
    if texts:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(spike_texts).on_conflict_do_nothing(), texts)

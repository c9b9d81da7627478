"""The spike worker's store on SQLite and PostgreSQL: one alert per spike, grown and
ended, never raised twice; one incident counted once; staff texts with no client data."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from schemas.report import ReportBy
from schemas.spikes import AlertChange
from services.crypto.fields import FieldCipher
from services.reporting.build import program_report
from services.reporting.flat import report_rows
from services.sms.consent import phone_token
from services.sms.outbox_sender import LocalOutboxSender, read_outbox
from services.spikes.detection import record_batch
from services.spikes.endings import end_cleared
from services.spikes.staff_texts import send_due
from services.store.repository import Store
from tests.integration.spike_support import (
    ON_CALL,
    PATIENT,
    T0,
    alert_rows,
    outbox_count,
    report,
    spike_programs,
    text_rows,
)


def test_four_in_one_zip_raise_one_alert_at_the_third_and_grow_it(
    store: Store, cipher: FieldCipher
) -> None:
    programs = spike_programs()
    records = [report(T0 + timedelta(minutes=40 * i)) for i in range(4)]  # 2 h
    seen = []
    for record in records:
        now = record.event.occurred_at + timedelta(seconds=30)
        seen.append(record_batch(store, cipher, [record], programs, now))
    assert seen[0] == [] and seen[1] == [], "two overdoses are not a spike"
    (raised,) = seen[2]
    assert raised.change is AlertChange.RAISED
    assert (raised.area_kind, raised.area, raised.count) == ("zip", "25701", 3)
    assert raised.rule == "threshold 3 in 6 h" and raised.method == "threshold"
    assert raised.started_at == records[2].event.occurred_at
    assert raised.first_event_at == records[0].event.occurred_at
    assert raised.expected == 0, "nothing in the 8 weeks before"
    (grown,) = seen[3]
    assert (grown.change, grown.alert_id, grown.count, grown.revision) == (
        AlertChange.UPDATED, raised.alert_id, 4, 2,
    )  # fmt: skip
    rows = alert_rows(store)
    assert len(rows) == 1, "exactly one alert: the county's threshold (5) is not reached"

    # the same four again (a redelivered batch, a restarted worker): nothing new
    again = record_batch(store, cipher, records, programs, T0 + timedelta(hours=2, minutes=1))
    assert again == []
    assert len(alert_rows(store)) == 1 and alert_rows(store)[0].count == 4
    assert outbox_count(store) == 2, "raised, then grown: one record each"


def test_the_alert_ends_when_its_window_clears_and_a_lone_report_then_raises_nothing(
    store: Store, cipher: FieldCipher
) -> None:
    programs = spike_programs()
    records = [report(T0 + timedelta(minutes=20 * i)) for i in range(3)]
    record_batch(store, cipher, records, programs, T0 + timedelta(hours=1))
    almost = T0 + timedelta(hours=5, minutes=59)
    assert end_cleared(store, cipher, programs, almost) == [], "still 3 in the last 6 h"
    (ended,) = end_cleared(store, cipher, programs, T0 + timedelta(hours=6))
    assert ended.change is AlertChange.ENDED and ended.ended_at is not None
    assert end_cleared(store, cipher, programs, T0 + timedelta(hours=7)) == []
    later = T0 + timedelta(hours=8)
    assert record_batch(store, cipher, [report(later)], programs, later) == []
    assert [r.ended_at is not None for r in alert_rows(store)] == [True]


def test_one_incident_reported_by_ems_and_police_counts_once(
    store: Store, cipher: FieldCipher
) -> None:
    programs = spike_programs()
    place = {"address": "12 Main St", "lat": 38.4192, "lon": -82.4452}
    batch = [
        report(T0, source="ems", **place),
        report(T0 + timedelta(minutes=10), source="police", **place),
        report(T0 + timedelta(minutes=30), source="ems", address="40 Elm St"),
    ]
    assert record_batch(store, cipher, batch, programs, T0 + timedelta(hours=1)) == []
    third = report(T0 + timedelta(minutes=50), source="police", address="7 Oak St")
    (raised,) = record_batch(store, cipher, [third], programs, T0 + timedelta(hours=1))
    assert raised.count == 3, "four reports, three incidents"


def test_a_backlog_of_old_reports_raises_nothing(store: Store, cipher: FieldCipher) -> None:
    programs = spike_programs()
    old = [report(T0 + timedelta(minutes=10 * i)) for i in range(6)]
    assert record_batch(store, cipher, old, programs, T0 + timedelta(days=2)) == []
    assert alert_rows(store) == []


def test_the_on_call_text_goes_once_to_the_local_outbox_with_no_client_data(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    programs = spike_programs()
    now = T0 + timedelta(hours=1)
    records = [report(T0 + timedelta(minutes=15 * i)) for i in range(3)]
    record_batch(store, cipher, records, programs, now)
    (pending,) = text_rows(store)
    assert pending.status == "pending" and pending.phone_token == phone_token(cipher, ON_CALL)
    outbox = tmp_path / "sms-outbox.jsonl"
    sender = LocalOutboxSender(outbox, lambda to: phone_token(cipher, to), lambda: now)
    assert asyncio.run(send_due(store, cipher, programs, sender, lambda: now)) == 1
    assert asyncio.run(send_due(store, cipher, programs, sender, lambda: now)) == 0
    (line,) = read_outbox(outbox)
    assert line["to_token"] == phone_token(cipher, ON_CALL)
    body = line["body"]
    assert "3 overdoses in ZIP 25701" in body and "Spike County QRT" in body
    text = json.dumps(line)
    for secret in (PATIENT["first_name"], PATIENT["last_name"], "555-0177", "Hidden Lane",
                   "1988", ON_CALL):  # fmt: skip
        assert secret not in text, f"{secret!r} must not be in a staff text"
    assert text_rows(store)[0].status == "sent"


def test_quiet_hours_hold_the_text_only_when_the_program_says_so(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    programs = spike_programs()
    quiet = programs.programs[0]
    quiet = quiet.model_copy(
        update={"spikes": quiet.spikes.model_copy(update={"quiet_hours": True})}
    )
    held = type(programs)(programs=[quiet])
    night = T0.replace(hour=7)  # 02:00 in New York
    records = [report(night - timedelta(minutes=15 * i)) for i in range(3)]
    record_batch(store, cipher, records, held, night)
    outbox = tmp_path / "sms-outbox.jsonl"
    sender = LocalOutboxSender(outbox, lambda to: phone_token(cipher, to), lambda: night)
    assert asyncio.run(send_due(store, cipher, held, sender, lambda: night)) == 0
    (row,) = text_rows(store)
    assert row.status == "pending" and row.due_at == night.replace(hour=13), "08:00 in New York"
    morning = night.replace(hour=13)
    assert asyncio.run(send_due(store, cipher, held, sender, lambda: morning)) == 1

    # the same at 02:00 for a program that does not ask for quiet hours: it goes now
    others = [
        report(night - timedelta(minutes=15 * i), zip_code="25702", county="54099")
        for i in range(3)
    ]
    record_batch(store, cipher, others, programs, night)
    assert asyncio.run(send_due(store, cipher, programs, sender, lambda: night)) == 1
    assert [r.status for r in text_rows(store)] == ["sent", "sent"]


def test_the_program_report_counts_the_alerts_their_size_and_time_to_alert(
    store: Store, cipher: FieldCipher
) -> None:
    programs = spike_programs()
    program = programs.programs[0]
    records = [report(T0 + timedelta(minutes=30 * i)) for i in range(4)]
    for record in records:  # the third raises 2 minutes after it happened; the fourth grows it
        record_batch(
            store, cipher, [record], programs, record.event.occurred_at + timedelta(minutes=2)
        )
    day = T0.astimezone(program.zone).date()
    found = program_report(store, program, day.replace(day=1), day, ReportBy.MONTH,
                           clinical=True, share=False, now=T0 + timedelta(days=1))  # fmt: skip
    spikes = found.spikes
    assert spikes.alerts == 1 and spikes.largest == 4 and spikes.median_size == 4
    assert [(n.name, n.count) for n in spikes.by_area_kind] == [("zip", 1)]
    assert [(n.name, n.count) for n in spikes.by_period] == [(day.replace(day=1).isoformat(), 1)]
    assert spikes.median_minutes_to_alert == 2.0 == spikes.max_minutes_to_alert
    rows = {(s, m): v for s, m, v in report_rows(found)}
    assert rows[("spikes", "alerts")] == "1"
    shared = program_report(store, program, day.replace(day=1), day, ReportBy.MONTH,
                            clinical=True, share=True, now=T0 + timedelta(days=1))  # fmt: skip
    assert shared.spikes.alerts == "<11", "a small count is suppressed in shareable figures"

"""The spike worker's tables (services/spikes): the reports it counted, the alerts it
raised, their outbox to `overdose.spikes.v1`, and the texts to on-call staff.

No person is in any of them. A report keeps its areas (ZIP, county, grid cell), its
time and whether it was fatal; its place (lat/lon) only sealed, for the alert's map;
its identity only as a keyed blind token, enough to count a redelivered report once.
Reports are deleted after REPORT_DAYS (services/spikes/detection.py)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from services.store.table_base import UTCDateTime, metadata

spike_reports = Table(
    "spike_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("program_id", String(64), nullable=False),
    Column("report_token", String(64), nullable=False),  # blind: source, agency, incident
    Column("source", String(16), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("fatal", Boolean, nullable=False),
    Column("zip5", String(5), nullable=True),
    Column("county", String(5), nullable=True),
    Column("grid", String(32), nullable=True),
    Column("place_sealed", Text, nullable=True),  # lat/lon, for the alert's map
    Column("counted", Boolean, nullable=False),  # false: another source's report of one incident
    UniqueConstraint("program_id", "report_token", name="uq_spike_reports_token"),
    Index("ix_spike_reports_time", "program_id", "occurred_at"),
    Index("ix_spike_reports_zip", "program_id", "zip5", "occurred_at"),
    Index("ix_spike_reports_county", "program_id", "county", "occurred_at"),
    Index("ix_spike_reports_grid", "program_id", "grid", "occurred_at"),
)

# A report's scene as blind tokens (its address, its ~50 m cell): another source's report
# of the same scene within the program's incident_merge_minutes is the same incident
spike_scenes = Table(
    "spike_scenes",
    metadata,
    Column("program_id", String(64), primary_key=True),
    Column("token", String(64), primary_key=True),
    Column("report_id", Integer, primary_key=True),
    Column("source", String(16), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Index("ix_spike_scenes_time", "occurred_at"),
)

spike_alerts = Table(
    "spike_alerts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("program_id", String(64), nullable=False),
    Column("area_kind", String(8), nullable=False),
    Column("area", String(32), nullable=False),
    Column("method", String(16), nullable=False),  # threshold
    Column("rule", String(64), nullable=False),  # e.g. "threshold 3 in 6 h"
    Column("threshold", Integer, nullable=False),
    Column("window_hours", Float, nullable=False),
    Column("count", Integer, nullable=False),
    Column("fatal", Integer, nullable=False),
    Column("expected", Float, nullable=False),  # the area's usual count in one window
    Column("first_event_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),  # the report that reached the threshold
    Column("last_event_at", UTCDateTime, nullable=False),
    Column("raised_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("revision", Integer, nullable=False),
    # one open alert per area and rule: a redelivered report, a restart, a second
    # writer can only update it
    Index(
        "uq_spike_alerts_open",
        "program_id",
        "area_kind",
        "area",
        "rule",
        unique=True,
        sqlite_where=text("ended_at IS NULL"),
        postgresql_where=text("ended_at IS NULL"),
    ),
    Index("ix_spike_alerts_program", "program_id", "raised_at"),
)

spike_outbox = Table(
    "spike_outbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(64), nullable=False),
    Column("key", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime, nullable=True),
    Index("ix_spike_outbox_pending", "published_at", "seq"),
)

# One text per alert and on-call number: pending -> sending (written before the call)
# -> sent, or failed; the number itself stays in the programs file
spike_texts = Table(
    "spike_texts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(36), nullable=False),
    Column("program_id", String(64), nullable=False),
    Column("phone_token", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("sending_at", UTCDateTime, nullable=True),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("sid", String(64), nullable=True),
    UniqueConstraint("alert_id", "phone_token", name="uq_spike_texts_alert_phone"),
    Index("ix_spike_texts_due", "status", "due_at"),
)

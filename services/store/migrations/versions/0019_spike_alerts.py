"""spike alerts: the reports the spike worker counted and their scenes (blind tokens), its alerts (one open per area and
rule), their outbox to overdose.spikes.v1, and the texts to on-call staff

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
OPEN = sa.text("ended_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "spike_reports",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("report_token", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("fatal", sa.Boolean, nullable=False),
        sa.Column("zip5", sa.String(5), nullable=True),
        sa.Column("county", sa.String(5), nullable=True),
        sa.Column("grid", sa.String(32), nullable=True),
        sa.Column("place_sealed", sa.Text, nullable=True),
        sa.Column("counted", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_spike_reports"),
        sa.UniqueConstraint("program_id", "report_token", name="uq_spike_reports_token"),
    )
    for name, area in (("time", None), ("zip", "zip5"), ("county", "county"), ("grid", "grid")):
        columns = ["program_id", *([area] if area else []), "occurred_at"]
        op.create_index(f"ix_spike_reports_{name}", "spike_reports", columns)
    op.create_table(
        "spike_scenes",
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("report_id", sa.Integer, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("program_id", "token", "report_id", name="pk_spike_scenes"),
    )
    op.create_index("ix_spike_scenes_time", "spike_scenes", ["occurred_at"])
    op.create_table(
        "spike_alerts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("area_kind", sa.String(8), nullable=False),
        sa.Column("area", sa.String(32), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("threshold", sa.Integer, nullable=False),
        sa.Column("window_hours", sa.Float, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("fatal", sa.Integer, nullable=False),
        sa.Column("expected", sa.Float, nullable=False),
        sa.Column("first_event_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("last_event_at", TS, nullable=False),
        sa.Column("raised_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_spike_alerts"),
    )
    op.create_index(
        "uq_spike_alerts_open",
        "spike_alerts",
        ["program_id", "area_kind", "area", "rule"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_index("ix_spike_alerts_program", "spike_alerts", ["program_id", "raised_at"])
    op.create_table(
        "spike_outbox",
        sa.Column("seq", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("published_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_spike_outbox"),
    )
    op.create_index("ix_spike_outbox_pending", "spike_outbox", ["published_at", "seq"])
    op.create_table(
        "spike_texts",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(36), nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("phone_token", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("sending_at", TS, nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("sid", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_spike_texts"),
        sa.UniqueConstraint("alert_id", "phone_token", name="uq_spike_texts_alert_phone"),
    )
    op.create_index("ix_spike_texts_due", "spike_texts", ["status", "due_at"])


def downgrade() -> None:
    for table in ("spike_texts", "spike_outbox", "spike_alerts", "spike_scenes", "spike_reports"):
        op.drop_table(table)

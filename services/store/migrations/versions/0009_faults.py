"""faults: timers set aside with their reason; the gateway's inbox (embedded default)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("timers") as batch:
        batch.add_column(sa.Column("failed_reason", sa.String(200), nullable=True))
    op.create_table(
        "gateway_inbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("event_sealed", sa.Text(), nullable=False),
        sa.Column("accepted_at", TS, nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("last_sent_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_gateway_inbox"),
        sa.UniqueConstraint(
            "source", "agency_id", "event_id", name="uq_gateway_inbox_event"
        ),
    )


def downgrade() -> None:
    op.drop_table("gateway_inbox")
    with op.batch_alter_table("timers") as batch:
        batch.drop_column("failed_reason")

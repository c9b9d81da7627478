"""ingest gateway: per-agency API keys (hashed) and receipts of accepted events

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agency_keys",
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("label", sa.String(100), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("key_hash", name="pk_agency_keys"),
    )
    op.create_index("ix_agency_keys_agency_id", "agency_keys", ["agency_id"])
    op.create_table(
        "gateway_receipts",
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("source", "agency_id", "event_id", name="pk_gateway_receipts"),
    )


def downgrade() -> None:
    op.drop_table("gateway_receipts")
    op.drop_table("agency_keys")

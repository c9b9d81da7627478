"""ingest gateway: per-agency API keys (only their SHA-256 is kept); events.phone_token

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
    # the blind index of the patient's phone: the SMS worker finds a case's consenting
    # phone without opening every sealed patient record
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("phone_token", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("phone_token")
    op.drop_table("agency_keys")

"""deaths and merges: a case may be flagged as a possible death (with the fatal
report), or closed as merged into another case; consents by person (a death)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("possible_death_at", TS, nullable=True))
        batch.add_column(sa.Column("possible_death_event_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("merged_into", sa.String(36), nullable=True))
    op.create_index("ix_sms_consents_person", "sms_consents", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_sms_consents_person", table_name="sms_consents")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("merged_into")
        batch.drop_column("possible_death_event_id")
        batch.drop_column("possible_death_at")

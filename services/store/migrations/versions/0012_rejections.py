"""feed problems: the dead letters of overdose.rejected.v1 kept, the original sealed

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rejections",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("letter_key", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("field_errors", sa.Text(), nullable=False),
        sa.Column("agency_id", sa.String(64), nullable=True),
        sa.Column("source", sa.String(16), nullable=True),
        sa.Column("program_id", sa.String(64), nullable=True),
        sa.Column("origin_topic", sa.String(255), nullable=True),
        sa.Column("origin_partition", sa.Integer(), nullable=True),
        sa.Column("origin_offset", sa.Integer(), nullable=True),
        sa.Column("rejected_at", TS, nullable=False),
        sa.Column("stored_at", TS, nullable=False),
        sa.Column("original_size", sa.Integer(), nullable=False),
        sa.Column("original_sealed", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rejections"),
        sa.UniqueConstraint("letter_key", name="uq_rejections_letter_key"),
    )
    op.create_index("ix_rejections_rejected_at", "rejections", ["rejected_at"])
    op.create_index("ix_rejections_program", "rejections", ["program_id", "rejected_at"])


def downgrade() -> None:
    op.drop_index("ix_rejections_program", table_name="rejections")
    op.drop_index("ix_rejections_rejected_at", table_name="rejections")
    op.drop_table("rejections")

"""the team's day: each report's scene sealed; a visit's method, notes (sealed), needs,
barriers, services and the people met

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

VISIT_LISTS = ("needs", "barriers", "services", "people_met")


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("scene_sealed", sa.Text, nullable=True))
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("method", sa.String(16), nullable=True))
        batch.add_column(sa.Column("notes_sealed", sa.Text, nullable=True))
        for name in VISIT_LISTS:
            batch.add_column(sa.Column(name, sa.String(400), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        for name in ("notes_sealed", "method", *VISIT_LISTS):
            batch.drop_column(name)
    with op.batch_alter_table("events") as batch:
        batch.drop_column("scene_sealed")

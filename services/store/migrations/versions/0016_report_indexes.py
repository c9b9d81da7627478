"""the program report: a program's reports and cases by their time (a month's report
reads that month, not the whole table)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""
from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_program_time", "events", ["program_id", "occurred_at"])
    op.create_index("ix_cases_program_time", "cases", ["program_id", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_program_time", table_name="cases")
    op.drop_index("ix_events_program_time", table_name="events")

"""person_index: covering lookup index (program_id, token, person_id)

SQLite's planner preferred the unique (program_id, kind, token, person_id)
index over the narrower (program_id, token) one for `token IN (...)` lookups,
scanning a whole program per match. The covering index is chosen by both
SQLite and PostgreSQL and answers a lookup from the index alone.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_person_index_lookup", table_name="person_index")
    op.create_index(
        "ix_person_index_token", "person_index", ["program_id", "token", "person_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_person_index_token", table_name="person_index")
    op.create_index("ix_person_index_lookup", "person_index", ["program_id", "token"])

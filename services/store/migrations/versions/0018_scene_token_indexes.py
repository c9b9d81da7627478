"""events: an index on each of a report's two scene tokens (`scene_tokens` is "first second",
blind-index tokens of 32 characters), so the case worker finds the open cases' reports at a
scene by index instead of reading every report of the hours around a batch

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

FIRST = "substr(scene_tokens, 1, 32)"
SECOND = "substr(scene_tokens, 34, 32)"


def upgrade() -> None:
    op.create_index("ix_events_scene_first", "events", [sa.text(FIRST)])
    op.create_index("ix_events_scene_second", "events", [sa.text(SECOND)])


def downgrade() -> None:
    op.drop_index("ix_events_scene_second", table_name="events")
    op.drop_index("ix_events_scene_first", table_name="events")

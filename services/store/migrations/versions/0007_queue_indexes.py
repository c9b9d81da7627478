"""queue reads: the queue index covers the whole sort (id last); cases by owner;
texts by phone token (revoking a phone's consent)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""
from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

QUEUE_BEFORE = ["program_id", "status", "tier_rank", "window_due_at", "occurred_at"]


def upgrade() -> None:
    op.drop_index("ix_cases_queue", table_name="cases")
    op.create_index("ix_cases_queue", "cases", [*QUEUE_BEFORE, "id"])
    op.create_index("ix_cases_owner", "cases", ["program_id", "owner_user_id"])
    op.create_index("ix_sms_texts_phone_token", "sms_texts", ["phone_token"])


def downgrade() -> None:
    op.drop_index("ix_sms_texts_phone_token", table_name="sms_texts")
    op.drop_index("ix_cases_owner", table_name="cases")
    op.drop_index("ix_cases_queue", table_name="cases")
    op.create_index("ix_cases_queue", "cases", QUEUE_BEFORE)

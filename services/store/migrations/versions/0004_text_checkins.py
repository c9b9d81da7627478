"""text check-ins: consents, texts, replies, SMS outbox; call-back and invalid-phone flags

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sms_consents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("phone_token", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(36), nullable=True),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sms_consents"),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name="fk_sms_consents_person_id_persons"
        ),
    )
    op.create_index("ix_sms_consents_phone", "sms_consents", ["program_id", "phone_token", "id"])
    op.create_table(
        "sms_texts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(160), nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=True),
        sa.Column("person_id", sa.String(36), nullable=True),
        sa.Column("phone_token", sa.String(64), nullable=False),
        sa.Column("to_sealed", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("language", sa.String(3), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("state_code", sa.String(2), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("send_after", TS, nullable=False),
        sa.Column("tries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sending_since", TS, nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("final_at", TS, nullable=True),
        sa.Column("twilio_sid", sa.String(64), nullable=True),
        sa.Column("twilio_status", sa.String(16), nullable=True),
        sa.Column("error_code", sa.Integer, nullable=True),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sms_texts"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_sms_texts_case_id_cases"),
        sa.UniqueConstraint("idempotency_key", name="uq_sms_texts_idempotency_key"),
        sa.UniqueConstraint("twilio_sid", name="uq_sms_texts_twilio_sid"),
    )
    op.create_index("ix_sms_texts_case_id", "sms_texts", ["case_id"])
    op.create_index("ix_sms_texts_due", "sms_texts", ["state", "send_after"])
    op.create_table(
        "sms_replies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_sid", sa.String(64), nullable=False),
        sa.Column("phone_token", sa.String(64), nullable=False),
        sa.Column("program_id", sa.String(64), nullable=True),
        sa.Column("case_id", sa.String(36), nullable=True),
        sa.Column("keyword", sa.String(16), nullable=True),
        sa.Column("body_sealed", sa.Text, nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sms_replies"),
        sa.UniqueConstraint("message_sid", name="uq_sms_replies_message_sid"),
    )
    op.create_index("ix_sms_replies_phone_token", "sms_replies", ["phone_token"])
    op.create_table(
        "sms_statuses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_sid", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.Integer, nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sms_statuses"),
        sa.UniqueConstraint("message_sid", "status", name="uq_sms_statuses_sid_status"),
    )
    op.create_table(
        "sms_outbox",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("published_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_sms_outbox"),
    )
    op.create_index("ix_sms_outbox_unpublished", "sms_outbox", ["published_at", "seq"])
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("callback_requested_at", TS, nullable=True))
        batch.add_column(sa.Column("phone_invalid_at", TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("phone_invalid_at")
        batch.drop_column("callback_requested_at")
    for table in ("sms_outbox", "sms_statuses", "sms_replies", "sms_texts", "sms_consents"):
        op.drop_table(table)

"""everyone the team serves: case kinds (referrals, family support), engaged clients and
their next check-in, contacts of a case, treatment referrals and providers' keys

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(24), nullable=False, server_default="overdose")
        )
        batch.add_column(sa.Column("referral_kind", sa.String(16), nullable=True))
        batch.add_column(sa.Column("engaged_at", TS, nullable=True))
        batch.add_column(sa.Column("next_checkin_at", TS, nullable=True))
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("referral_sealed", sa.Text, nullable=True))
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("contact_id", sa.Integer, nullable=True))
    with op.batch_alter_table("sms_texts") as batch:
        batch.add_column(sa.Column("contact_id", sa.Integer, nullable=True))
    op.create_table(
        "case_contacts",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(36), nullable=True),
        sa.Column("relation", sa.String(16), nullable=False),
        sa.Column("contact_sealed", sa.Text, nullable=False),
        sa.Column("phone_token", sa.String(64), nullable=True),
        sa.Column("sms_consent", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("removed_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_contacts_case_id_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_case_contacts"),
    )
    op.create_index("ix_case_contacts_case_id", "case_contacts", ["case_id"])
    op.create_index("ix_case_contacts_person_id", "case_contacts", ["person_id"])
    op.create_index("ix_case_contacts_phone_token", "case_contacts", ["phone_token"])
    op.create_table(
        "treatment_referrals",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("provider_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("referred_at", TS, nullable=False),
        sa.Column("entered_at", TS, nullable=True),
        sa.Column("retained_30d_at", TS, nullable=True),
        sa.Column("retained_90d_at", TS, nullable=True),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_treatment_referrals_case_id_cases"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_treatment_referrals"),
    )
    op.create_index("ix_treatment_referrals_case_id", "treatment_referrals", ["case_id"])
    op.create_index(
        "ix_treatment_referrals_provider", "treatment_referrals", ["program_id", "provider_id"]
    )
    op.create_table(
        "provider_keys",
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("provider_id", sa.String(64), nullable=False),
        sa.Column("label", sa.String(100), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("key_hash", name="pk_provider_keys"),
    )
    op.create_index("ix_provider_keys_provider_id", "provider_keys", ["provider_id"])


def downgrade() -> None:
    op.drop_table("provider_keys")
    op.drop_table("treatment_referrals")
    op.drop_table("case_contacts")
    for table in ("sms_texts", "attempts"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("contact_id")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("referral_sealed")
    with op.batch_alter_table("cases") as batch:
        for name in ("next_checkin_at", "engaged_at", "referral_kind", "kind"):
            batch.drop_column(name)

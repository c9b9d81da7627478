"""case engine: persons (sealed) and blind indexes, reviews, attempts, timers, audit

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("identity_sealed", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_persons"),
    )
    op.create_index("ix_persons_program_id", "persons", ["program_id"])
    op.create_table(
        "person_addresses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.String(36), nullable=False),
        sa.Column("address_sealed", sa.Text, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("event_row_id", sa.Integer, nullable=True),
        sa.Column("observed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_person_addresses"),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name="fk_person_addresses_person_id_persons"
        ),
    )
    op.create_index("ix_person_addresses_person_id", "person_addresses", ["person_id"])
    op.create_table(
        "person_index",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_person_index"),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name="fk_person_index_person_id_persons"
        ),
        sa.UniqueConstraint(
            "program_id", "kind", "token", "person_id", name="uq_person_index_entry"
        ),
    )
    op.create_index("ix_person_index_person_id", "person_index", ["person_id"])
    op.create_index("ix_person_index_lookup", "person_index", ["program_id", "token"])

    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("person_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("patient_sealed", sa.Text, nullable=True))
        batch.add_column(sa.Column("scene_tokens", sa.String(200), nullable=True))
        batch.add_column(sa.Column("match_decision", sa.String(16), nullable=True))
        batch.create_foreign_key("fk_events_person_id_persons", "persons", ["person_id"], ["id"])
        batch.create_index("ix_events_person_id", ["person_id"])

    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("person_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("at_risk_reason", sa.String(32), nullable=True))
        batch.add_column(sa.Column("missed_at", TS, nullable=True))
        batch.add_column(sa.Column("closed_at", TS, nullable=True))
        batch.add_column(sa.Column("outcome", sa.String(48), nullable=True))
        batch.add_column(sa.Column("referral", sa.String(48), nullable=True))
        batch.add_column(sa.Column("first_attempt_at", TS, nullable=True))
        batch.add_column(sa.Column("first_contact_at", TS, nullable=True))
        batch.add_column(sa.Column("planned_team_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("planned_shift_start", TS, nullable=True))
        batch.add_column(sa.Column("planned_visit_from", TS, nullable=True))
        batch.add_column(sa.Column("planned_visit_until", TS, nullable=True))
        batch.create_foreign_key("fk_cases_person_id_persons", "persons", ["person_id"], ["id"])
        batch.create_index("ix_cases_person_id", ["person_id"])

    op.create_table(
        "match_reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("event_row_id", sa.Integer, nullable=False),
        sa.Column("case_id", sa.String(36), nullable=True),
        sa.Column("person_id", sa.String(36), nullable=True),
        sa.Column("candidate_person_id", sa.String(36), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_match_reviews"),
        sa.ForeignKeyConstraint(
            ["event_row_id"], ["events.id"], name="fk_match_reviews_event_row_id_events"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_match_reviews_case_id_cases"),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name="fk_match_reviews_person_id_persons"
        ),
        sa.ForeignKeyConstraint(
            ["candidate_person_id"],
            ["persons.id"],
            name="fk_match_reviews_candidate_person_id_persons",
        ),
    )
    op.create_index("ix_match_reviews_open", "match_reviews", ["program_id", "status"])
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("attempt_no", sa.Integer, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("team_id", sa.String(64), nullable=True),
        sa.Column("result", sa.String(48), nullable=False),
        sa.Column("referral", sa.String(48), nullable=True),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_attempts"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_attempts_case_id_cases"),
        sa.UniqueConstraint("case_id", "attempt_no", name="uq_attempts_case_attempt_no"),
    )
    op.create_table(
        "timers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("fired_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_timers"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_timers_case_id_cases"),
        sa.UniqueConstraint("case_id", "kind", name="uq_timers_case_kind"),
    )
    op.create_index("ix_timers_due", "timers", ["fired_at", "due_at"])
    op.create_table(
        "program_state",
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("plan_requested_at", TS, nullable=True),
        sa.Column("planned_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("program_id", name="pk_program_state"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("subject_type", sa.String(24), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )


def downgrade() -> None:
    for table in ("audit_log", "program_state", "timers", "attempts", "match_reviews"):
        op.drop_table(table)
    with op.batch_alter_table("cases") as batch:
        batch.drop_constraint("fk_cases_person_id_persons", type_="foreignkey")
        batch.drop_index("ix_cases_person_id")
        for column in (
            "person_id", "version", "at_risk_reason", "missed_at", "closed_at", "outcome",
            "referral", "first_attempt_at", "first_contact_at", "planned_team_id",
            "planned_shift_start", "planned_visit_from", "planned_visit_until",
        ):  # fmt: skip
            batch.drop_column(column)
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("fk_events_person_id_persons", type_="foreignkey")
        batch.drop_index("ix_events_person_id")
        for column in ("person_id", "patient_sealed", "scene_tokens", "match_decision"):
            batch.drop_column(column)
    for table in ("person_index", "person_addresses", "persons"):
        op.drop_table(table)

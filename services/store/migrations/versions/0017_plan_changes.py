"""incremental planning: the change log of the planner's inputs (kept by triggers on
`cases`), what each stored plan was made with, an index of the placed cases

The triggers live on `cases`: on SQLite a later migration that rebuilds `cases` (a batch
alter) drops them, so it must create them again (`create_triggers` below). The planner
checks that they exist and plans every open case when they do not.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
# what the stored plan of a case depends on: a change of any of them is logged
WATCHED = (
    "program_id", "status", "tier_rank", "window_opens_at", "window_due_at", "occurred_at",
    "missed_at",
)
TRIGGERS = ("plan_changes_insert", "plan_changes_update", "plan_changes_delete")
_OLD = (
    "OLD.program_id, OLD.id, "
    "(OLD.planned_team_id IS NOT NULL AND OLD.status = 'open' AND OLD.missed_at IS NULL), "
    "OLD.tier_rank, OLD.window_due_at, OLD.occurred_at"
)
_COLUMNS = "program_id, case_id, was_placed, old_tier_rank, old_due_at, old_occurred_at"


def _sqlite(changed: str) -> list[str]:
    return [
        f"""CREATE TRIGGER plan_changes_insert AFTER INSERT ON cases FOR EACH ROW BEGIN
            INSERT INTO plan_changes (program_id, case_id, was_placed)
            VALUES (NEW.program_id, NEW.id, 0); END""",
        f"""CREATE TRIGGER plan_changes_update AFTER UPDATE OF {", ".join(WATCHED)} ON cases
            FOR EACH ROW WHEN {changed} BEGIN
            INSERT INTO plan_changes ({_COLUMNS}) VALUES ({_OLD});
            INSERT INTO plan_changes (program_id, case_id, was_placed)
            SELECT NEW.program_id, NEW.id, 0 WHERE NEW.program_id IS NOT OLD.program_id; END""",
        f"""CREATE TRIGGER plan_changes_delete AFTER DELETE ON cases FOR EACH ROW BEGIN
            INSERT INTO plan_changes ({_COLUMNS}) VALUES ({_OLD}); END""",
    ]


def _postgresql(changed: str) -> list[str]:
    return [
        # a batch insert is one statement: one insert into the log, not one per row
        """CREATE FUNCTION plan_changes_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              INSERT INTO plan_changes (program_id, case_id, was_placed)
              SELECT program_id, id, false FROM inserted_cases;
              RETURN NULL;
            END $$""",
        f"""CREATE FUNCTION plan_changes_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              INSERT INTO plan_changes ({_COLUMNS}) VALUES ({_OLD});
              IF TG_OP = 'UPDATE' AND NEW.program_id IS DISTINCT FROM OLD.program_id THEN
                INSERT INTO plan_changes (program_id, case_id, was_placed)
                VALUES (NEW.program_id, NEW.id, false);
              END IF;
              RETURN NULL;
            END $$""",
        """CREATE TRIGGER plan_changes_insert AFTER INSERT ON cases
            REFERENCING NEW TABLE AS inserted_cases
            FOR EACH STATEMENT EXECUTE FUNCTION plan_changes_inserted()""",
        f"""CREATE TRIGGER plan_changes_update AFTER UPDATE OF {", ".join(WATCHED)} ON cases
            FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION plan_changes_changed()""",
        """CREATE TRIGGER plan_changes_delete AFTER DELETE ON cases
            FOR EACH ROW EXECUTE FUNCTION plan_changes_changed()""",
    ]


def create_triggers() -> None:
    """The change log's triggers on `cases`, for this dialect."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    differs = "IS DISTINCT FROM" if postgresql else "IS NOT"
    changed = " OR ".join(f"OLD.{c} {differs} NEW.{c}" for c in WATCHED)
    for statement in (_postgresql if postgresql else _sqlite)(changed):
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "plan_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("was_placed", sa.Boolean(), nullable=False),
        sa.Column("old_tier_rank", sa.Integer(), nullable=True),
        sa.Column("old_due_at", TS, nullable=True),
        sa.Column("old_occurred_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_plan_changes"),
    )
    op.create_index("ix_plan_changes_program_id", "plan_changes", ["program_id"])
    with op.batch_alter_table("program_state") as batch:
        batch.add_column(sa.Column("plan_basis", sa.String(64), nullable=True))
    op.create_index(
        "ix_cases_planned",
        "cases",
        ["program_id", "planned_team_id"],
        sqlite_where=sa.text("planned_team_id IS NOT NULL"),
        postgresql_where=sa.text("planned_team_id IS NOT NULL"),
    )
    create_triggers()


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON cases" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS plan_changes_inserted()")
        op.execute("DROP FUNCTION IF EXISTS plan_changes_changed()")
    op.drop_index("ix_cases_planned", table_name="cases")
    with op.batch_alter_table("program_state") as batch:
        batch.drop_column("plan_basis")
    op.drop_index("ix_plan_changes_program_id", table_name="plan_changes")
    op.drop_table("plan_changes")

"""retention: the audit log's one delete path (a grant the retention job writes and
deletes again inside its own transaction), its nightly runs, the persons and cases whose
personal data it removed; the audit log indexed by time

The append-only triggers of 0006 are replaced: an UPDATE of audit_log is still refused,
and so is every DELETE, except of a row older than the cutoff of a `retention_grants`
row the deleting transaction can see. The job inserts that row, deletes, and deletes the
row again before it commits, so no other transaction ever sees a grant (SQLite has one
writer at a time; PostgreSQL shows no transaction another's uncommitted row). On
PostgreSQL the trigger also wants `qrt.retention = 'on'` set with SET LOCAL (or
set_config(..., true)), which ends with the transaction whatever happens to the grant,
and a TRUNCATE of audit_log is refused.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
REFUSED = "audit_log is append-only"

SQLITE_DELETE_TRIGGER = (
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "WHEN NOT EXISTS (SELECT 1 FROM retention_grants g WHERE OLD.at < g.cutoff) "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
)
SQLITE_OLD_DELETE_TRIGGER = (
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
)
PG_FUNCTION = (
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'DELETE' "
    "AND coalesce(current_setting('qrt.retention', true), '') = 'on' "
    "AND EXISTS (SELECT 1 FROM retention_grants g WHERE OLD.at < g.cutoff) THEN "
    "RETURN OLD; END IF; "
    f"RAISE EXCEPTION '{REFUSED}'; END $$"
)
PG_OLD_FUNCTION = (
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN RAISE EXCEPTION '{REFUSED}'; END $$"
)
PG_NO_TRUNCATE = (
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
)


def upgrade() -> None:
    op.create_table(
        "retention_grants",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("cutoff", TS, nullable=False),
        sa.Column("granted_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_retention_grants"),
    )
    op.create_table(
        "retention_runs",
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("run_day", sa.String(10), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("program_id", "run_day", name="pk_retention_runs"),
    )
    op.create_table(
        "retention_purges",
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("purged_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("subject_type", "subject_id", name="pk_retention_purges"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)  # the row trigger of 0006 calls it
        op.execute(PG_NO_TRUNCATE)
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        op.execute(SQLITE_DELETE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute(PG_OLD_FUNCTION)
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        op.execute(SQLITE_OLD_DELETE_TRIGGER)
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    for table in ("retention_purges", "retention_runs", "retention_grants"):
        op.drop_table(table)

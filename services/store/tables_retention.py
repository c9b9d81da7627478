"""The retention job's own tables (services/retention): the grant that opens the audit
log's one delete path inside the job's transaction, the nightly runs claimed per program
and day, and which persons and cases had their personal data removed, and when. Ids and
times only."""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table

from services.store.table_base import UTCDateTime, metadata

# Written and deleted again inside the one transaction that removes audit rows: the
# append-only triggers (migration 0015) let a DELETE through only for rows older than
# its cutoff while it exists (on PostgreSQL also only with `qrt.retention` set locally).
retention_grants = Table(
    "retention_grants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("cutoff", UTCDateTime, nullable=False),
    Column("granted_at", UTCDateTime, nullable=False),
)

# One nightly run per program and program-local day (its date, YYYY-MM-DD)
retention_runs = Table(
    "retention_runs",
    metadata,
    Column("program_id", String(64), primary_key=True),
    Column("run_day", String(10), primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
)

# A person (or a case without one) whose personal data was removed: looked at again
# only when something of theirs changed after `purged_at`
retention_purges = Table(
    "retention_purges",
    metadata,
    Column("subject_type", String(16), primary_key=True),  # person | case
    Column("subject_id", String(64), primary_key=True),
    Column("program_id", String(64), nullable=False),
    Column("purged_at", UTCDateTime, nullable=False),
)

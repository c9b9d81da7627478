"""The retention run: for each program, the personal data of the subjects whose time is up
(services/retention/rules.py) removed in bounded transactions, then the reports of no
one and the originals of old rejected records; for a run of every program, the
rejections of no program and the audit rows older than the longest `audit_years`.

Subjects are read a page at a time and purged `PURGE_BATCH` at a time, each batch in its
own transaction that takes the program's lock (the store's one lock order, so no case
opens for a person while their data goes) and decides again inside it. Every batch is
audited (`retention_purged`: the ids, the counts, never a value) and so is each
program's run (`retention_run`); a dry run reads the same and writes nothing."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from services.programs import Program
from services.retention.rules import SubjectFacts, Verdict, verdict
from services.retention.settings import years_before
from services.store import retention_records as records
from services.store import retention_scan as scan
from services.store.case_records import audit, lock_programs
from services.store.repository import Store
from services.store.retention_purge import purge, scope_of

SCAN_PAGE = 500
PURGE_BATCH = 100
ROWS_PER_TRANSACTION = 2000
ACTOR = "retention"
SETTLE_TRIES = 4  # checkpoints tried while another connection holds a read
SETTLE_WAIT_MS = 100  # each try waits this long for the read to end (busy timeout)
SETTLE_BACKOFF_S = 0.05  # then this, doubled each time, before the next try
Progress = Callable[[int], None]
log = logging.getLogger(__name__)


@dataclass
class ProgramPurge:
    program_id: str
    cutoff: datetime
    verdicts: Counter[str] = field(default_factory=Counter)  # subjects by Verdict
    persons: int = 0  # purged (a dry run: would be)
    cases: int = 0  # cases without a person purged
    removed: Counter[str] = field(default_factory=Counter)  # what went, by kind
    file_settled: bool = True  # SQLite: the write-ahead log checkpointed (settle_file)


@dataclass
class NoProgramParts:
    originals: int  # originals of rejections routed to no program removed
    audit_cutoff: datetime
    audit_rows: int
    file_settled: bool = True


@dataclass
class RetentionRun:
    now: datetime
    dry_run: bool
    programs: list[ProgramPurge] = field(default_factory=list)
    every_program: bool = False
    audit_cutoff: datetime | None = None
    audit_rows: int = 0
    unrouted_originals: int = 0
    parts_settled: bool = True

    @property
    def file_settled(self) -> bool:
        """False when a checkpoint of the SQLite write-ahead log was kept from finishing."""
        return self.parts_settled and all(p.file_settled for p in self.programs)

    @property
    def anything(self) -> bool:
        purged = any(p.persons or p.cases or p.removed for p in self.programs)
        return purged or bool(self.audit_rows or self.unrouted_originals)


def subjects_total(store: Store, programs: Sequence[Program]) -> int:
    """How many subjects a run looks at (persons and cases without one): its progress."""
    with store.engine.connect() as conn:
        return sum(scan.subjects_count(conn, p.id) for p in programs)


def run_retention(
    store: Store,
    programs: Sequence[Program],
    now: datetime,
    *,
    dry_run: bool,
    every_program: bool,
    progress: Progress | None = None,
) -> RetentionRun:
    """The run (module doc); `every_program`: `programs` are all of them, so the parts of
    no program (the audit log, unrouted rejections) are done too."""
    run = RetentionRun(now=now, dry_run=dry_run, every_program=every_program)
    for program in programs:
        run.programs.append(purge_program(store, program, now, dry_run=dry_run, progress=progress))
    if every_program and programs:
        parts = purge_parts_of_no_program(store, programs, now, dry_run=dry_run)
        run.unrouted_originals, run.audit_cutoff = parts.originals, parts.audit_cutoff
        run.audit_rows, run.parts_settled = parts.audit_rows, parts.file_settled
    return run


def purge_parts_of_no_program(
    store: Store, programs: Sequence[Program], now: datetime, *, dry_run: bool
) -> NoProgramParts:
    """The originals of rejections routed to no program (after the longest
    `personal_data_years`) and the audit rows older than the longest `audit_years`."""
    longest_personal = max(p.retention.personal_data_years for p in programs)
    originals = _in_transactions(
        store,
        dry_run,
        lambda conn, apply: records.old_originals(
            conn,
            None,
            years_before(now, longest_personal),
            apply=apply,
            limit=ROWS_PER_TRANSACTION,
        ),
    )
    audit_cutoff = years_before(now, max(p.retention.audit_years for p in programs))
    removed = trim_audit_log(store, audit_cutoff, now, dry_run=dry_run)
    settled = True if dry_run else settle_file(store)
    return NoProgramParts(originals, audit_cutoff, removed, settled)


def _in_transactions(store: Store, dry_run: bool, step: Callable[[Connection, bool], int]) -> int:
    """A step of bounded transactions: repeated while it fills one (a dry run: counted once)."""
    if dry_run:
        with store.engine.connect() as conn:
            return step(conn, False)
    total = 0
    while True:
        with store.transaction() as conn:
            _secure_delete(conn)
            n = step(conn, True)
        total += n
        if n < ROWS_PER_TRANSACTION:
            return total


def trim_audit_log(store: Store, cutoff: datetime, now: datetime, *, dry_run: bool) -> int:
    removed = _in_transactions(
        store,
        dry_run,
        lambda conn, apply: records.trim_audit(
            conn, cutoff, now, apply=apply, limit=ROWS_PER_TRANSACTION
        ),
    )
    if removed and not dry_run:
        with store.transaction() as conn:
            audit(
                conn,
                now,
                ACTOR,
                "audit_rows_removed",
                "audit_log",
                cutoff.date().isoformat(),
                {"cutoff": cutoff.isoformat(), "rows": removed},
            )
    return removed


def purge_program(
    store: Store,
    program: Program,
    now: datetime,
    *,
    dry_run: bool,
    progress: Progress | None = None,
) -> ProgramPurge:
    cutoff = program.retention.personal_cutoff(now)
    done = ProgramPurge(program.id, cutoff)
    pages = ((scan.PERSON, scan.person_page), (scan.CASE, scan.case_page))
    for kind, page in pages:
        after = ""
        while True:
            with store.engine.connect() as conn:
                ids = page(conn, program.id, after, SCAN_PAGE)
                facts = _facts(conn, program.id, kind, ids)
            if not ids:
                break
            after = ids[-1]
            done.verdicts.update(verdict(f, cutoff).value for f in facts)
            due = [f.id for f in facts if verdict(f, cutoff) is Verdict.PURGE]
            for start in range(0, len(due), PURGE_BATCH):
                _purge_batch(
                    store, program, kind, due[start : start + PURGE_BATCH], done, now, dry_run
                )
            if progress is not None:
                progress(len(ids))
    done.removed["orphan_reports"] = _in_transactions(
        store,
        dry_run,
        lambda conn, apply: records.orphan_reports(
            conn, program.id, cutoff, apply=apply, limit=ROWS_PER_TRANSACTION
        ),
    )
    done.removed["rejection_originals"] = _in_transactions(
        store,
        dry_run,
        lambda conn, apply: records.old_originals(
            conn, program.id, cutoff, apply=apply, limit=ROWS_PER_TRANSACTION
        ),
    )
    done.removed = +done.removed
    if not dry_run:
        with store.transaction() as conn:
            audit(conn, now, ACTOR, "retention_run", "program", program.id, _run_detail(done))
        done.file_settled = settle_file(store)
    return done


def _secure_delete(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":  # what is removed is overwritten in the file too
        conn.exec_driver_sql("PRAGMA secure_delete = ON")


def settle_file(store: Store) -> bool:
    """SQLite: the write-ahead log copied into the file and emptied, so the old versions
    of the pages that held what went are overwritten now (removed rows' space is zeroed
    by `secure_delete`), not at some later checkpoint. That needs no other connection to
    hold a read: tried `SETTLE_TRIES` times, then False (a warning logged; the next
    checkpoint does it). True when done, and on PostgreSQL."""
    if store.engine.dialect.name != "sqlite":
        return True
    with store.engine.connect() as conn:
        was = int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one())
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {SETTLE_WAIT_MS}")
        try:
            for attempt in range(SETTLE_TRIES):
                busy, _log, _checkpointed = conn.exec_driver_sql(
                    "PRAGMA wal_checkpoint(TRUNCATE)"
                ).one()
                if not busy:
                    return True
                if attempt + 1 < SETTLE_TRIES:
                    time.sleep(SETTLE_BACKOFF_S * 2**attempt)  # I/O: another read to end
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {was}")
    log.warning(
        "retention: the SQLite write-ahead log could not be emptied after %d tries (another "
        "connection holds a read); what was removed leaves it at the next checkpoint",
        SETTLE_TRIES,
    )
    return False


def _facts(conn: Connection, program_id: str, kind: str, ids: list[str]) -> list[SubjectFacts]:
    if kind == scan.PERSON:
        return scan.person_facts(conn, program_id, ids)
    return scan.case_facts(conn, ids)


def _purge_batch(
    store: Store,
    program: Program,
    kind: str,
    ids: list[str],
    done: ProgramPurge,
    now: datetime,
    dry_run: bool,
) -> None:
    """One bounded transaction: the program locked, the subjects decided again in it."""
    opened = store.engine.connect() if dry_run else store.transaction()
    with opened as conn:
        if not dry_run:
            lock_programs(conn, [program.id])
            _secure_delete(conn)
        facts = _facts(conn, program.id, kind, ids)
        due = [f for f in facts if verdict(f, done.cutoff) is Verdict.PURGE]
        if not due:
            return
        person_ids = [f.id for f in due] if kind == scan.PERSON else []
        case_ids = [c for f in due for c in f.case_ids]
        removed = purge(conn, scope_of(conn, program.id, person_ids, case_ids), apply=not dry_run)
        if not dry_run:
            records.mark_purged(conn, kind, [f.id for f in due], program.id, now)
            audit(
                conn,
                now,
                ACTOR,
                "retention_purged",
                "program",
                program.id,
                {"cutoff": done.cutoff.isoformat(), f"{kind}s": [f.id for f in due], **removed},
            )
    done.removed.update(removed)
    if kind == scan.PERSON:
        done.persons += len(due)
    else:
        done.cases += len(due)


def _run_detail(done: ProgramPurge) -> dict[str, object]:
    return {
        "cutoff": done.cutoff.isoformat(),
        "persons": done.persons,
        "cases": done.cases,
        **{f"kept_{v}": done.verdicts[v] for v in (Verdict.OPEN, Verdict.RECENT)},
        **done.removed,
    }

"""The timer worker's nightly retention (workers/timers.py looks every few minutes): each
program's run from 03:00 program time, once per program-local day, claimed in the store
(`retention_runs`), so neither a restart nor a second timer worker runs it twice; the
audit log and the rejections of no program once per UTC day from 03:00 UTC. A run that
fails gives its claim back: the next look tries again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from functools import partial
from zoneinfo import ZoneInfo

from services.programs import Program, Programs
from services.retention.job import purge_parts_of_no_program, purge_program
from services.retention.rules import night_run_day
from services.store import retention_records as records
from services.store.repository import Store

log = logging.getLogger(__name__)
EVERY_PROGRAM = "*"  # the claim of the parts of no program


def _claimed(store: Store, key: str, day: date, now: datetime, run: Callable[[], None]) -> bool:
    with store.transaction() as conn:
        if not records.claim_run(conn, key, day, now):
            return False
    try:
        run()
    except Exception:
        with store.transaction() as conn:
            records.release_run(conn, key, day)
        raise
    with store.transaction() as conn:
        records.finish_run(conn, key, day, now)
    return True


def nightly_retention(store: Store, programs: Programs, now: datetime) -> list[str]:
    """The runs due now; which ran (program ids, "*" for the parts of no program)."""
    ran: list[str] = []
    for program in programs.programs:
        day = night_run_day(now, program.zone)
        if day is not None and _claimed(
            store, program.id, day, now, partial(_program_run, store, program, now)
        ):
            ran.append(program.id)
    day = night_run_day(now, ZoneInfo("UTC"))
    if day is not None and programs.programs:
        if _claimed(store, EVERY_PROGRAM, day, now, partial(_every_program, store, programs, now)):
            ran.append(EVERY_PROGRAM)
    return ran


def _program_run(store: Store, program: Program, now: datetime) -> None:
    done = purge_program(store, program, now, dry_run=False)
    log.info(
        "retention %s: %d person(s) and %d case(s) purged, %d row(s) changed",
        program.id,
        done.persons,
        done.cases,
        sum(done.removed.values()),
    )


def _every_program(store: Store, programs: Programs, now: datetime) -> None:
    parts = purge_parts_of_no_program(store, programs.programs, now, dry_run=False)
    log.info(
        "retention: %d original(s) of no program's rejections and %d audit row(s) older "
        "than %s removed",
        parts.originals,
        parts.audit_rows,
        parts.audit_cutoff.date(),
    )

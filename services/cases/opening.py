"""Open follow-up cases from routed events: the store adapter of the case core.

Per batch, in one transaction (the programs' state rows locked first: the store's
one lock order, services/store/case_records.py `lock_programs`):
1. Duplicates (same publisher event id, or same agency + incident number from
   the same source) yield nothing new.
2. The person is resolved (services/cases/person_resolution.py), for fatal
   reports too.
3. What is known is read in a few set-based queries (the events of open cases near
   the batch in time, the open case and the history of each known person, the
   persons a report may be compared with) and services/core/cases.py decides each
   report: join the case of the same overdose, a death or a possible death, history
   only, join the person's open case (and move its window), or open a case with the
   tier of the person's history.
4. services/cases/batch_writes.py writes the verdicts: timers are scheduled, the
   program's plan is requested, every change goes to the case-event outbox, deaths
   close or flag cases (services/cases/deaths.py).
Events with no identifying data still open a case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, select
from sqlalchemy.exc import IntegrityError

from schemas.cases import CaseStatus
from schemas.intake import IntakeRecord
from schemas.overdose_event import OverdoseEvent
from services.cases.batch_writes import (
    Batch,
    Derived,
    Handling,
    apply,
    derive,
    event_key,
    event_row,
    ref_of,
    settle_deaths,
    write,
)
from services.cases.person_resolution import PersonResolver, person_id_for
from services.cases.recent_events import recent_events
from services.core import cases as core
from services.core.cases import case_id_for_key, stored_event_key
from services.core.referrals import decide_referral
from services.crypto.fields import FieldCipher
from services.identity.matching import Thresholds
from services.programs import Program, Programs
from services.runtime.retry import describe, isolate
from services.store import case_records as records
from services.store.repository import EventKey, Store
from services.store.tables import cases

__all__ = [
    "Handling",
    "IntakeResult",
    "UnknownProgram",
    "case_id_for",
    "case_id_for_key",
    "event_key",
    "open_cases",
    "open_cases_or_refuse",
    "ref_of",
    "stored_event_key",
]


class UnknownProgram(Exception):
    def __init__(self, program_id: str) -> None:
        super().__init__(
            f"intake record names program {program_id!r}, which the programs file does not "
            "define; the intake and case workers must read the same programs file"
        )


@dataclass
class IntakeResult:
    opened: int = 0
    linked: int = 0
    duplicates: int = 0
    skipped: int = 0
    too_old: int = 0
    reviews: int = 0

    def add(self, other: IntakeResult) -> None:
        for name in ("opened", "linked", "duplicates", "skipped", "too_old", "reviews"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def count(self, handling: Handling) -> None:
        name = {
            Handling.CASE_OPENED: "opened",
            Handling.CASE_LINKED: "linked",
            Handling.SKIPPED_FATAL: "skipped",
            Handling.TOO_OLD: "too_old",
        }[handling]
        setattr(self, name, getattr(self, name) + 1)


def event_keys(event: OverdoseEvent) -> list[EventKey]:
    keys: list[EventKey] = [("id", event.source.value, event.agency_id, event.event_id)]
    if event.incident_number:
        keys.append(("incident", event.source.value, event.agency_id, event.incident_number))
    return keys


def case_id_for(event: OverdoseEvent) -> str:
    """Deterministic: a replay of the same event always names the same case."""
    return case_id_for_key(event_key(event))


def open_cases(
    store: Store,
    records_: Sequence[IntakeRecord],
    programs: Programs,
    now: datetime,
    cipher: FieldCipher,
) -> IntakeResult:
    """Record a batch of routed events; open or join a case for each new eligible one."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("naive datetime refused by the case engine; pass an aware `now`")
    for attempt in range(3):
        try:
            with store.transaction() as conn:
                return _open_in(conn, store, records_, programs, now, cipher)
        except IntegrityError:
            # Another writer stored one of these keys between our check and insert:
            # run the whole batch again; the check now sees it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def open_cases_or_refuse(
    store: Store,
    records_: Sequence[IntakeRecord],
    programs: Programs,
    now: datetime,
    cipher: FieldCipher,
) -> tuple[IntakeResult, list[tuple[int, str]]]:
    """`open_cases` for the batch; a record the store refuses for its data (not an
    outage, which is raised) is left out, found by halving the batch: what was stored,
    and (index, why) of each record refused."""
    done = IntakeResult()

    def attempt(batch: Sequence[tuple[int, IntakeRecord]]) -> None:
        done.add(open_cases(store, [r for _, r in batch], programs, now, cipher))

    refused = isolate(list(enumerate(records_)), attempt)
    return done, [(index, describe(exc)) for (index, _), exc in refused]


def _open_in(
    conn: Connection,
    store: Store,
    batch: Sequence[IntakeRecord],
    programs: Programs,
    now: datetime,
    cipher: FieldCipher,
) -> IntakeResult:
    result = IntakeResult()
    seen = store.known_event_keys(conn, [k for r in batch for k in event_keys(r.event)])
    fresh: dict[str, list[IntakeRecord]] = {}
    for record in batch:
        keys = event_keys(record.event)
        if any(k in seen for k in keys):
            result.duplicates += 1
            continue
        seen.update(keys)
        if programs.get(record.program_id) is None:
            raise UnknownProgram(record.program_id)
        fresh.setdefault(record.program_id, []).append(record)
    records.lock_programs(conn, fresh)  # the store's one lock order: programs, then cases
    for program_id, items in sorted(fresh.items()):
        program = programs.get(program_id)
        assert program is not None
        _open_for_program(conn, program, items, now, cipher, result)
    return result


def _open_for_program(
    conn: Connection,
    program: Program,
    items: Sequence[IntakeRecord],
    now: datetime,
    cipher: FieldCipher,
    result: IntakeResult,
) -> None:
    """Read what the core needs, decide each report in order, write the verdicts."""
    resolver = PersonResolver(conn, cipher, program.id, _thresholds(program), now)
    resolver.prefetch([r.event.patient for r in items])
    derived = [derive(r, cipher) for r in items]
    known = _known(conn, program, items, derived, resolver)
    out = Batch()
    for record, facts in zip(items, derived, strict=True):
        event = record.event
        found = resolver.resolve(event.patient, facts.key)
        report = core.Report(
            key=facts.key,
            source=event.source.value,
            occurred_at=event.occurred_at,
            fatal=event.fatal,
            person_id=found.person_id,
            decision=found.decision,
            candidate_id=found.candidate_id,
            probes=facts.probes,
            features=resolver.features_of(event.patient),
        )
        ref = record.referral  # a referral: never an overdose (services/core/referrals.py)
        verdict = (
            core.decide(report, known, program, now) if ref is None
            else decide_referral(report, ref.kind, ref.urgency, known, program, now)
        )  # fmt: skip
        row = event_row(record, facts, program, now, cipher)
        row.update(person_id=found.person_id, match_decision=found.decision)
        result.count(apply(out, program, record, facts, row, found, verdict, now))
    write(conn, program, out, resolver, cipher, now)
    settle_deaths(conn, program, out, now, _margin(program))
    result.reviews += len(out.reviews)


def _known(
    conn: Connection,
    program: Program,
    items: Sequence[IntakeRecord],
    derived: Sequence[Derived],
    resolver: PersonResolver,
) -> core.Known:
    """What the core decides with, read in four queries; the persons a report may be
    compared with (named on an open case at the same scene, from another source, within
    the program's `incident_merge_minutes`: services/core/cases.py `same_incident`)
    opened in one more."""
    margin = _margin(program)
    persons = resolver.known_person_ids | {person_id_for(d.key) for d in derived}
    overdoses = [(r, d) for r, d in zip(items, derived, strict=True) if r.referral is None]
    recent = recent_events(  # a referral is never the same incident: it looks for none
        conn, program.id, margin, [r.event.occurred_at for r, _ in overdoses], persons,
        {t for _, d in overdoses for t in d.probes},
    )  # fmt: skip
    compared = {
        r.person_id
        for record, facts in zip(items, derived, strict=True)
        for r in recent.near(None, set(facts.probes))
        if r.person_id is not None
        and r.source != record.event.source.value
        and abs(r.occurred_at - record.event.occurred_at) <= margin
    }
    resolver.load_features(compared)
    known_ids = resolver.known_person_ids
    return core.Known(
        recent=recent,
        open_by_person=_open_cases_of(conn, known_ids),
        history=records.history_of(conn, known_ids),
        features=resolver.features,
    )


def _thresholds(program: Program) -> Thresholds:
    defaults = Thresholds()
    return Thresholds(
        auto_link=program.matching.auto_link or defaults.auto_link,
        review=program.matching.review or defaults.review,
    )


def _margin(program: Program) -> timedelta:
    return timedelta(minutes=program.matching.incident_merge_minutes)


def _open_cases_of(conn: Connection, person_ids: set[str]) -> dict[str, tuple[str, datetime]]:
    """Each person's open case: (its id, its overdose)."""
    if not person_ids:
        return {}
    rows = conn.execute(
        select(cases.c.person_id, cases.c.id, cases.c.occurred_at).where(
            and_(
                cases.c.person_id.in_(sorted(person_ids)),
                cases.c.status == CaseStatus.OPEN.value,
            )
        )
    )
    return {r.person_id: (r.id, r.occurred_at) for r in rows}

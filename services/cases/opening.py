"""Open follow-up cases from routed events: one case per eligible non-fatal overdose.

Per batch, in one transaction (the programs' state rows locked first: the store's
one lock order, services/store/case_records.py `lock_programs`):
1. Duplicates (same publisher event id, or same agency + incident number from
   the same source) yield nothing new.
2. The person is resolved (services/cases/person_resolution.py), for fatal
   reports too.
3. The event joins an open case when it reports the same overdose: another
   source within the program's `incident_merge_minutes`, and the same person, or
   the same scene while one side names nobody or the two named could be one
   person (services/identity/incident.py: the DOB agrees, the names agree
   phonetically or as a nickname or prefix), exactly one such case. The person
   link itself may still go to review. Else it joins the open case of its person
   (one case, one owner: a repeat overdose moves that case's window to the newer
   overdose). Otherwise it opens a case whose tier comes from the person's history.
4. Timers are scheduled, the program's plan is requested, and every change is
   written to the case-event outbox.
5. A fatal report opens no case; linked to a person it closes that person's open
   cases as deceased, uncertain it flags them (services/cases/deaths.py).
6. A report of an overdose older than the program's `max_event_age_days` (30 by
   default) is kept, with its person, for history and reports: no case, no text.
Events with no identifying data still open a case.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Connection, and_, select, update
from sqlalchemy.exc import IntegrityError

from schemas.cases import TIER_RANK, CaseEvent, CaseEventKind, CaseStatus, EventRef, Tier
from schemas.intake import IntakeRecord
from schemas.overdose_event import OverdoseEvent
from schemas.sms import ConsentSource
from services.cases.deaths import (
    Death,
    apply_death,
    deaths_of,
    flag_possible_death,
    open_cases_before,
)
from services.cases.person_resolution import PersonResolver, Resolution
from services.cases.scene import own_tokens, probe_tokens
from services.cases.tiering import PastCase, tier_for_history
from services.crypto.fields import FieldCipher
from services.identity.incident import could_be_one_person
from services.identity.matching import Decision, Thresholds, features_from_patient
from services.planning.visit_window import visit_window
from services.programs import Program, Programs
from services.runtime.retry import describe, isolate
from services.sms import consent as sms_consent
from services.store import case_records as records
from services.store import person_records
from services.store.repository import EventKey, Store
from services.store.tables import cases, events, match_reviews, timers

CASE_NAMESPACE = uuid.UUID("5b0f3c1e-7a4e-4f0a-9a55-1d2f3b4c5d6e")


class Handling(StrEnum):
    CASE_OPENED = "case_opened"
    CASE_LINKED = "case_linked"
    SKIPPED_FATAL = "skipped_fatal"
    TOO_OLD = "too_old"  # older than the program's max_event_age_days: history only


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


def event_key(event: OverdoseEvent) -> str:
    return stored_event_key(event.source.value, event.agency_id, event.event_id)


def stored_event_key(source: str, agency_id: str, event_id: str) -> str:
    """The key that names an event's case, person and sealed data: source|agency|event id."""
    return f"{source}|{agency_id}|{event_id}"


def event_keys(event: OverdoseEvent) -> list[EventKey]:
    keys: list[EventKey] = [("id", event.source.value, event.agency_id, event.event_id)]
    if event.incident_number:
        keys.append(("incident", event.source.value, event.agency_id, event.incident_number))
    return keys


def case_id_for(event: OverdoseEvent) -> str:
    """Deterministic: a replay of the same event always names the same case."""
    return case_id_for_key(event_key(event))


def case_id_for_key(key: str) -> str:
    return str(uuid.uuid5(CASE_NAMESPACE, key))


def ref_of(event: OverdoseEvent) -> EventRef:
    return EventRef(
        source=event.source.value,
        agency_id=event.agency_id,
        event_id=event.event_id,
        incident_number=event.incident_number,
        occurred_at=event.occurred_at,
    )


@dataclass
class _Recent:
    """An event of an open case, as the same-incident check needs it."""

    case_id: str
    person_id: str | None
    source: str
    occurred_at: datetime
    scene: set[str]


@dataclass
class _Batch:
    """What one batch of one program writes, gathered before the bulk inserts."""

    case_rows: list[dict[str, object]] = field(default_factory=list)
    event_rows: list[dict[str, object]] = field(default_factory=list)
    timer_rows: list[dict[str, object]] = field(default_factory=list)
    opened: list[CaseEvent] = field(default_factory=list)
    linked: list[tuple[str, dict[str, str | int | float | None]]] = field(default_factory=list)
    rewindowed: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    person_set: dict[str, str] = field(default_factory=dict)
    reviews: list[tuple[OverdoseEvent, str, Resolution]] = field(default_factory=list)
    addresses: list[tuple[str, Any, str, datetime]] = field(default_factory=list)
    consents: list[dict[str, object]] = field(default_factory=list)
    deaths: list[Death] = field(default_factory=list)
    # a fatal report whose person is uncertain: (event, candidate persons, same-scene case)
    possible_deaths: list[tuple[OverdoseEvent, list[str], str | None]] = field(default_factory=list)


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


class _RecentIndex:
    """Events of open cases near the batch in time, found by person or scene token,
    so the same-incident check looks at a handful of events, not all of them."""

    def __init__(self, recent: Sequence[_Recent]) -> None:
        self._by_person: dict[str, list[_Recent]] = {}
        self._by_token: dict[str, list[_Recent]] = {}
        for r in recent:
            self.add(r)

    def add(self, r: _Recent) -> None:
        if r.person_id is not None:
            self._by_person.setdefault(r.person_id, []).append(r)
        for token in r.scene:
            self._by_token.setdefault(token, []).append(r)

    def near(self, person_id: str | None, probes: set[str]) -> list[_Recent]:
        found = list(self._by_person.get(person_id, ())) if person_id is not None else []
        for token in probes:
            found.extend(self._by_token.get(token, ()))
        return found


def _recent_events(
    conn: Connection, program: Program, items: Sequence[IntakeRecord]
) -> _RecentIndex:
    margin = timedelta(minutes=program.matching.incident_merge_minutes)
    times = [r.event.occurred_at for r in items]
    rows = conn.execute(
        select(
            events.c.case_id,
            events.c.person_id,
            events.c.source,
            events.c.occurred_at,
            events.c.scene_tokens,
        )
        .join(cases, cases.c.id == events.c.case_id)
        .where(
            and_(
                cases.c.program_id == program.id,
                cases.c.status == CaseStatus.OPEN.value,
                events.c.occurred_at >= min(times) - margin,
                events.c.occurred_at <= max(times) + margin,
            )
        )
    )
    return _RecentIndex(
        [
            _Recent(
                r.case_id, r.person_id, r.source, r.occurred_at, set((r.scene_tokens or "").split())
            )
            for r in rows
        ]
    )


def _open_cases_of(conn: Connection, person_ids: set[str]) -> dict[str, Any]:
    if not person_ids:
        return {}
    rows = conn.execute(
        select(cases).where(
            and_(cases.c.person_id.in_(sorted(person_ids)), cases.c.status == "open")
        )
    )
    return {r.person_id: dict(r._mapping) for r in rows}


def _same_incident(
    recent: _RecentIndex,
    event: OverdoseEvent,
    person_id: str | None,
    probes: set[str],
    margin: timedelta,
    one_person: Callable[[str], bool],
) -> str | None:
    """The one open case reporting the same overdose from another source within
    `margin`: the same person, or the same scene while one side names nobody or the two
    could be one person (`one_person`: services/identity/incident.py)."""
    source = event.source.value
    matches = set()
    for r in recent.near(person_id, probes):
        if r.source == source or abs(r.occurred_at - event.occurred_at) > margin:
            continue
        if person_id is not None and r.person_id == person_id:
            matches.add(r.case_id)
        elif probes & r.scene and (
            person_id is None or r.person_id is None or one_person(r.person_id)
        ):
            matches.add(r.case_id)
    return matches.pop() if len(matches) == 1 else None


def _event_row(
    record: IntakeRecord, program: Program, now: datetime, cipher: FieldCipher
) -> dict[str, object]:
    event, key = record.event, event_key(record.event)
    return {
        "program_id": program.id,
        "source": event.source.value,
        "agency_id": event.agency_id,
        "event_id": event.event_id,
        "incident_number": event.incident_number,
        "occurred_at": event.occurred_at,
        "received_at": record.received_at,
        "recorded_at": now,
        "fatal": event.fatal,
        "origin_topic": record.origin.topic,
        "origin_partition": record.origin.partition,
        "origin_offset": record.origin.offset,
        "patient_sealed": (
            person_records.seal_patient(cipher, key, event.patient) if event.patient else None
        ),
        "clinical_sealed": _sealed_clinical(cipher, key, event),
        "scene_tokens": " ".join(own_tokens(cipher, event.location)) or None,
        "phone_token": _phone_token(cipher, event),
    }


@dataclass
class _Engine:
    """One program's batch: what is known before it, and what it decides so far."""

    conn: Connection
    program: Program
    now: datetime
    cipher: FieldCipher
    resolver: PersonResolver
    recent: _RecentIndex
    open_by_person: dict[str, Any]
    history: dict[str, list[PastCase]]
    out: _Batch = field(default_factory=_Batch)
    new_cases: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def margin(self) -> timedelta:
        return timedelta(minutes=self.program.matching.incident_merge_minutes)

    def take(self, record: IntakeRecord, result: IntakeResult) -> None:
        event, out = record.event, self.out
        row = _event_row(record, self.program, self.now, self.cipher)
        found = self.resolver.resolve(event.patient, event_key(event))
        person_id = found.person_id
        row.update(person_id=person_id, match_decision=found.decision)
        if person_id and event.patient and event.patient.address:
            out.addresses.append((person_id, event.patient.address, event.source.value, self.now))
        if found.decision is Decision.REVIEW and found.candidate_id:
            out.reviews.append((event, found.candidate_id, found))
        probes = probe_tokens(self.cipher, event.location)
        own = features_from_patient(event.patient)

        def one_person(other: str) -> bool:
            theirs = self.resolver.features_of(other)
            return theirs is not None and could_be_one_person(own, theirs)

        target = _same_incident(self.recent, event, person_id, probes, self.margin, one_person)
        if event.fatal:
            out.event_rows.append({**row, "handling": Handling.SKIPPED_FATAL.value})
            result.skipped += 1
            self._fatal(event, found, target)
            return
        if self.now - event.occurred_at > self.program.max_event_age:
            out.event_rows.append({**row, "handling": Handling.TOO_OLD.value})
            result.too_old += 1
            return
        if target is not None:
            out.linked.append((target, {"reason": "same_incident", "event_id": event.event_id}))
        elif person_id is not None:
            target = self._join_open_case_of(event, person_id)
        handling = Handling.CASE_LINKED if target is not None else Handling.CASE_OPENED
        if target is not None:
            result.linked += 1
            if person_id is not None:
                out.person_set.setdefault(target, person_id)
        else:
            result.opened += 1
            target = self._open(event, person_id)
        out.event_rows.append({**row, "handling": handling.value, "case_id": target})
        self.recent.add(
            _Recent(target, person_id, event.source.value, event.occurred_at, set(probes))
        )
        out.consents.extend(
            _sms_consent(self.program, event, person_id, target, self.cipher, self.now)
        )

    def _join_open_case_of(self, event: OverdoseEvent, person_id: str) -> str | None:
        """A repeat overdose of a person with an open case joins it and moves its window."""
        existing = self.open_by_person.get(person_id) or self.new_cases.get(person_id)
        if existing is None:
            return None
        target = str(existing["id"])
        if event.occurred_at > cast(datetime, existing["occurred_at"]):
            window = visit_window(event.occurred_at, self.program.visit_window)
            self.out.rewindowed[target] = (window.opens_at, window.due_at)
        self.out.linked.append((target, {"reason": "repeat_overdose", "event_id": event.event_id}))
        return target

    def _open(self, event: OverdoseEvent, person_id: str | None) -> str:
        program, now, out = self.program, self.now, self.out
        case_id = case_id_for(event)
        window = visit_window(event.occurred_at, program.visit_window)
        past = self.history.get(person_id, []) if person_id else []
        tier = tier_for_history(past, program.tiers) if past else Tier.NEW
        case_row: dict[str, object] = {
            "id": case_id,
            "program_id": program.id,
            "status": CaseStatus.OPEN.value,
            "tier": tier.value,
            "tier_rank": TIER_RANK[tier],
            "occurred_at": event.occurred_at,
            "window_opens_at": window.opens_at,
            "window_due_at": window.due_at,
            "opened_at": now,
            "updated_at": now,
            "person_id": person_id,
        }
        out.case_rows.append(case_row)
        if person_id is not None:
            self.new_cases[person_id] = case_row
        out.timer_rows.extend(
            records.timer_rows(
                case_id, program.id, window.opens_at, window.due_at, program.at_risk_before_due
            )
        )
        out.opened.append(
            CaseEvent(
                seq=0,
                kind=CaseEventKind.OPENED,
                case_id=case_id,
                program_id=program.id,
                at=now,
                tier=tier,
                window_opens_at=window.opens_at,
                window_due_at=window.due_at,
                person_id=person_id,
                events=[ref_of(event)],
            )
        )
        return case_id

    def _fatal(self, event: OverdoseEvent, found: Resolution, same_incident: str | None) -> None:
        """A death of a linked person closes their cases (after the batch is written); an
        uncertain one flags the cases it may concern."""
        if found.decision is Decision.LINK and found.person_id is not None:
            self.out.deaths.append(
                Death(
                    found.person_id,
                    event.occurred_at,
                    event.source.value,
                    event.event_id,
                    _phone_token(self.cipher, event),
                )
            )
        uncertain = [] if found.decision is Decision.LINK else [found.candidate_id]
        self.out.possible_deaths.append((event, [p for p in uncertain if p], same_incident))


def _open_for_program(
    conn: Connection,
    program: Program,
    items: Sequence[IntakeRecord],
    now: datetime,
    cipher: FieldCipher,
    result: IntakeResult,
) -> None:
    defaults = Thresholds()
    thresholds = Thresholds(
        auto_link=program.matching.auto_link or defaults.auto_link,
        review=program.matching.review or defaults.review,
    )
    resolver = PersonResolver(conn, cipher, program.id, thresholds, now)
    resolver.prefetch([r.event.patient for r in items])
    engine = _Engine(
        conn,
        program,
        now,
        cipher,
        resolver,
        _recent_events(conn, program, items),
        _open_cases_of(conn, resolver.known_person_ids),
        records.history_of(conn, resolver.known_person_ids),
    )
    for record in items:
        engine.take(record, result)
    _write(conn, program, engine.out, resolver, cipher, now)
    _settle_deaths(conn, program, engine.out, now, engine.margin)
    result.reviews += len(engine.out.reviews)


def _settle_deaths(
    conn: Connection, program: Program, out: _Batch, now: datetime, margin: timedelta
) -> None:
    """After the batch is written: deaths close cases (this batch's, and a late report of
    someone who died before it), uncertain ones flag them."""
    for death in out.deaths:
        apply_death(conn, program.id, death, margin, now)
    fresh = {d.person_id for d in out.deaths}
    persons = {str(r["person_id"]) for r in out.event_rows if r.get("person_id")} - fresh
    for death in deaths_of(conn, program.id, persons):
        if open_cases_before(conn, program.id, death.person_id, death.died_at + margin):
            apply_death(conn, program.id, death, margin, now)
    for event, candidates, case_id in out.possible_deaths:
        row_id = _event_row_id(conn, event)
        concerned = [case_id] if case_id else []
        if candidates:
            concerned += conn.execute(
                select(cases.c.id).where(
                    and_(
                        cases.c.program_id == program.id,
                        cases.c.person_id.in_(candidates),
                        cases.c.status == CaseStatus.OPEN.value,
                    )
                )
            ).scalars()
        flag_possible_death(conn, concerned, row_id, event.event_id, now)


def _event_row_id(conn: Connection, event: OverdoseEvent) -> int:
    return int(
        conn.execute(
            select(events.c.id).where(
                and_(
                    events.c.source == event.source.value,
                    events.c.agency_id == event.agency_id,
                    events.c.event_id == event.event_id,
                )
            )
        ).scalar_one()
    )


def _write(
    conn: Connection,
    program: Program,
    out: _Batch,
    resolver: PersonResolver,
    cipher: FieldCipher,
    now: datetime,
) -> None:
    """Persons, then cases, then events and what refers to them: one statement a table."""
    for person in resolver.new_persons:
        changed = resolver.changed_identities.pop(str(person["id"]), None)
        if changed is not None:
            person["identity_sealed"] = person_records.seal_identity(
                cipher, str(person["id"]), changed
            )
    person_records.insert_persons(conn, resolver.new_persons)
    for person_id, identity in resolver.changed_identities.items():
        person_records.update_identity(conn, cipher, person_id, identity, now)
    person_records.add_tokens(conn, resolver.new_tokens)
    person_records.add_addresses(conn, cipher, out.addresses)
    if out.case_rows:
        conn.execute(cases.insert(), out.case_rows)
    if out.timer_rows:
        conn.execute(timers.insert(), out.timer_rows)
    if out.event_rows:
        conn.execute(events.insert(), [_with_defaults(r) for r in out.event_rows])
    records.append_case_events(conn, out.opened)
    for case_id, person_id in out.person_set.items():
        conn.execute(
            update(cases)
            .where(and_(cases.c.id == case_id, cases.c.person_id.is_(None)))
            .values(person_id=person_id, updated_at=now)
        )
    for case_id, (opens_at, due_at) in out.rewindowed.items():
        conn.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(
                window_opens_at=opens_at,
                window_due_at=due_at,
                missed_at=None,
                updated_at=now,
                version=cases.c.version + 1,
            )
        )
        records.reschedule_timers(conn, case_id, opens_at, due_at, program.at_risk_before_due)
    for case_id, detail in out.linked:
        records.announce(conn, case_id, CaseEventKind.LINKED, now, detail)
    for event, candidate, found in out.reviews:
        event_row = conn.execute(
            select(events.c.id, events.c.case_id).where(
                and_(
                    events.c.source == event.source.value,
                    events.c.agency_id == event.agency_id,
                    events.c.event_id == event.event_id,
                )
            )
        ).one()
        conn.execute(
            match_reviews.insert().values(
                program_id=program.id,
                event_row_id=event_row.id,
                case_id=event_row.case_id,
                person_id=found.person_id,
                candidate_person_id=candidate,
                score=found.score.score if found.score else 0.0,
                evidence=" ".join(
                    [
                        *(found.score.evidence if found.score else ()),
                        *(found.score.conflicts if found.score else ()),
                    ]
                ),
                status="open",
                created_at=now,
            )
        )
    sms_consent.record(conn, out.consents)
    records.request_plan(conn, [program.id], now)


def _sealed_clinical(cipher: FieldCipher, key: str, event: OverdoseEvent) -> str | None:
    facts = person_records.clinical_of(event)
    return person_records.seal_clinical(cipher, key, facts) if facts else None


def _phone_token(cipher: FieldCipher, event: OverdoseEvent) -> str | None:
    phone = sms_consent.e164(event.patient.phone) if event.patient else None
    return sms_consent.phone_token(cipher, phone) if phone else None


def _sms_consent(
    program: Program,
    event: OverdoseEvent,
    person_id: str | None,
    case_id: str,
    cipher: FieldCipher,
    now: datetime,
) -> list[dict[str, object]]:
    """The event's yes or no to text check-ins, for the phone it gives."""
    phone = sms_consent.e164(event.patient.phone) if event.patient else None
    if phone is None or event.consent.sms is None:
        return []
    return [
        sms_consent.consent_row(
            program.id,
            sms_consent.phone_token(cipher, phone),
            event.consent.sms,
            ConsentSource.EVENT,
            now,
            person_id=person_id,
            case_id=case_id,
        )
    ]


def _with_defaults(row: dict[str, object]) -> dict[str, object]:
    """executemany needs the same keys in every row."""
    return {"case_id": None, "person_id": None, "match_decision": None, "phone_token": None, **row}

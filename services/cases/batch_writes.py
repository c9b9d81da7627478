"""What one batch of one program writes: the verdicts of services/core/cases.py turned
into rows (persons, cases, timers, events, case events, reviews, consents), written one
statement a table, and the deaths settled after. Inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, update

from schemas.cases import TIER_RANK, CaseEvent, CaseEventKind, CaseStatus, EventRef
from schemas.intake import IntakeRecord
from schemas.overdose_event import OverdoseEvent
from schemas.sms import ConsentSource
from services.cases.deaths import (
    Death,
    apply_death,
    deaths_of,
    flag_possible_death,
)
from services.cases.person_resolution import PersonResolver, Resolution
from services.cases.scene import scene_tokens
from services.core.cases import Fatal, JoinCase, OpenCase, TooOld, Verdict, stored_event_key
from services.core.referrals import referral_detail, referral_opened
from services.crypto.fields import FieldCipher
from services.identity.matching import Decision
from services.programs import Program
from services.sms import consent as sms_consent
from services.store import case_records as records
from services.store import person_records
from services.store.referral_records import seal_referral
from services.store.tables import cases, events, match_reviews, timers


class Handling(StrEnum):
    CASE_OPENED = "case_opened"
    CASE_LINKED = "case_linked"
    SKIPPED_FATAL = "skipped_fatal"
    TOO_OLD = "too_old"  # older than the program's max_event_age_days: history only


def event_key(event: OverdoseEvent) -> str:
    return stored_event_key(event.source.value, event.agency_id, event.event_id)


def ref_of(event: OverdoseEvent) -> EventRef:
    return EventRef(
        source=event.source.value,
        agency_id=event.agency_id,
        event_id=event.event_id,
        incident_number=event.incident_number,
        occurred_at=event.occurred_at,
    )


@dataclass(frozen=True)
class Derived:
    """What one report's verdict and rows need that takes a key to compute, derived once:
    its event key, its scene's blind tokens (its own, stored with it, and the probes it
    is compared with), and the blind token of its phone (a valid number's)."""

    key: str
    scene: list[str]
    probes: frozenset[str]
    phone_token: str | None


def derive(record: IntakeRecord, cipher: FieldCipher) -> Derived:
    event = record.event
    own, probes = scene_tokens(cipher, event.location)
    phone = sms_consent.e164(event.patient.phone) if event.patient else None
    token = sms_consent.phone_token(cipher, phone) if phone else None
    return Derived(event_key(event), own, probes, token)


def event_row(
    record: IntakeRecord, derived: Derived, program: Program, now: datetime, cipher: FieldCipher
) -> dict[str, object]:
    event, key = record.event, derived.key
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
        "scene_tokens": " ".join(derived.scene) or None,
        "scene_sealed": person_records.seal_scene(cipher, key, event.location),
        "phone_token": derived.phone_token,
        "referral_sealed": (
            seal_referral(cipher, key, record.referral) if record.referral else None
        ),
    }


@dataclass
class Batch:
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


def apply(
    out: Batch,
    program: Program,
    record: IntakeRecord,
    derived: Derived,
    row: dict[str, object],
    found: Resolution,
    verdict: Verdict,
    now: datetime,
) -> Handling:
    """The rows of one report's verdict; the handling it was recorded with."""
    event, person_id = record.event, found.person_id
    if person_id and event.patient and event.patient.address:
        out.addresses.append((person_id, event.patient.address, event.source.value, now))
    if found.decision is Decision.REVIEW and found.candidate_id:
        out.reviews.append((event, found.candidate_id, found))
    match verdict:
        case Fatal():
            out.event_rows.append({**row, "handling": Handling.SKIPPED_FATAL.value})
            if verdict.death and person_id is not None:
                out.deaths.append(
                    Death(person_id, event.occurred_at, event.source.value, event.event_id,
                          derived.phone_token)
                )  # fmt: skip
            out.possible_deaths.append(
                (event, list(verdict.candidates), verdict.same_incident_case)
            )
            return Handling.SKIPPED_FATAL
        case TooOld():
            out.event_rows.append({**row, "handling": Handling.TOO_OLD.value})
            return Handling.TOO_OLD
        case JoinCase():
            target, handling = verdict.case_id, Handling.CASE_LINKED
            out.linked.append((target, {"reason": verdict.reason, "event_id": event.event_id,
                                        **referral_detail(record.referral)}))  # fmt: skip
            if verdict.rewindow is not None:
                out.rewindowed[target] = verdict.rewindow
            if person_id is not None:
                out.person_set.setdefault(target, person_id)
        case OpenCase():
            target, handling = verdict.case_id, Handling.CASE_OPENED
            _open(out, program, event, person_id, verdict, now)
            if record.referral is not None:  # a referral's case: its kind, and its event says so
                out.opened[-1] = referral_opened(out.case_rows[-1], out.opened[-1], record.referral)
    out.event_rows.append({**row, "handling": handling.value, "case_id": target})
    if derived.phone_token is not None and event.consent.sms is not None:
        # the event's yes or no to text check-ins, for the phone it gives
        out.consents.append(
            sms_consent.consent_row(
                program.id, derived.phone_token, event.consent.sms, ConsentSource.EVENT, now,
                person_id=person_id, case_id=target,
            )
        )  # fmt: skip
    return handling


def _open(
    out: Batch,
    program: Program,
    event: OverdoseEvent,
    person_id: str | None,
    verdict: OpenCase,
    now: datetime,
) -> None:
    out.case_rows.append(
        {
            "id": verdict.case_id,
            "program_id": program.id,
            "status": CaseStatus.OPEN.value,
            "tier": verdict.tier.value,
            "tier_rank": TIER_RANK[verdict.tier],
            "occurred_at": event.occurred_at,
            "window_opens_at": verdict.opens_at,
            "window_due_at": verdict.due_at,
            "opened_at": now,
            "updated_at": now,
            "person_id": person_id,
        }
    )
    out.timer_rows.extend(
        records.timer_rows(
            verdict.case_id, program.id, verdict.opens_at, verdict.due_at,
            program.at_risk_before_due,
        )
    )  # fmt: skip
    out.opened.append(
        CaseEvent(
            seq=0,
            kind=CaseEventKind.OPENED,
            case_id=verdict.case_id,
            program_id=program.id,
            at=now,
            tier=verdict.tier,
            window_opens_at=verdict.opens_at,
            window_due_at=verdict.due_at,
            person_id=person_id,
            events=[ref_of(event)],
        )
    )


def settle_deaths(
    conn: Connection, program: Program, out: Batch, now: datetime, margin: timedelta
) -> None:
    """After the batch is written: deaths close cases (this batch's, and a late report of
    someone who died before it), uncertain ones flag them."""
    for death in out.deaths:
        apply_death(conn, program.id, death, margin, now)
    fresh = {d.person_id for d in out.deaths}
    persons = {str(r["person_id"]) for r in out.event_rows if r.get("person_id")} - fresh
    earlier = deaths_of(conn, program.id, persons)
    still_open = _open_cases_by_person(conn, program.id, {d.person_id for d in earlier})
    for death in earlier:
        theirs = still_open.get(death.person_id, {})
        if any(at <= death.died_at + margin for at in theirs.values()):
            for closed in apply_death(conn, program.id, death, margin, now):
                theirs.pop(closed, None)
    if not out.possible_deaths:
        return
    rows = event_rows_of(conn, [event for event, _, _ in out.possible_deaths])
    candidates = {p for _, named, _ in out.possible_deaths for p in named}
    open_of = _open_cases_by_person(conn, program.id, candidates)
    for event, named, case_id in out.possible_deaths:
        concerned = [case_id] if case_id else []
        concerned += [c for person_id in named for c in open_of.get(person_id, {})]
        row_id = rows[event_key(event)][0]
        flag_possible_death(conn, concerned, row_id, event.event_id, now)


def _open_cases_by_person(
    conn: Connection, program_id: str, person_ids: set[str]
) -> dict[str, dict[str, datetime]]:
    """person -> {open case id: its overdose}, for these persons of the program. (Asked
    by person alone, the program checked here: SQLite would otherwise walk the program's
    cases by time.)"""
    found: dict[str, dict[str, datetime]] = {}
    ids = sorted(person_ids)
    for start in range(0, len(ids), 500):
        for r in conn.execute(
            select(cases.c.id, cases.c.program_id, cases.c.person_id, cases.c.occurred_at).where(
                and_(
                    cases.c.person_id.in_(ids[start : start + 500]),
                    cases.c.status == CaseStatus.OPEN.value,
                )
            )
        ):
            if r.program_id == program_id:
                found.setdefault(r.person_id, {})[r.id] = r.occurred_at
    return found


def event_rows_of(
    conn: Connection, reports: Sequence[OverdoseEvent]
) -> dict[str, tuple[int, str | None]]:
    """event key -> (its `events` row id, its case id), for stored reports; asked per
    (source, agency), the unique index's leading columns."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for event in reports:
        wanted.setdefault((event.source.value, event.agency_id), set()).add(event.event_id)
    found: dict[str, tuple[int, str | None]] = {}
    for (source, agency_id), event_ids in sorted(wanted.items()):
        ids = sorted(event_ids)
        for start in range(0, len(ids), 500):
            for r in conn.execute(
                select(events.c.id, events.c.case_id, events.c.event_id).where(
                    and_(
                        events.c.source == source,
                        events.c.agency_id == agency_id,
                        events.c.event_id.in_(ids[start : start + 500]),
                    )
                )
            ):
                found[stored_event_key(source, agency_id, r.event_id)] = (r.id, r.case_id)
    return found


def write(
    conn: Connection,
    program: Program,
    out: Batch,
    resolver: PersonResolver,
    cipher: FieldCipher,
    now: datetime,
) -> None:
    """Persons, then cases, then events and what refers to them: one statement a table."""
    _write_persons(conn, out, resolver, cipher, now)
    if out.case_rows:
        conn.execute(cases.insert(), out.case_rows)
    if out.timer_rows:
        conn.execute(timers.insert(), out.timer_rows)
    if out.event_rows:
        conn.execute(events.insert(), [_with_defaults(r) for r in out.event_rows])
    records.append_case_events(conn, out.opened)
    _update_joined_cases(conn, program, out, now)
    _write_reviews(conn, program, out, now)
    sms_consent.record(conn, out.consents)
    records.request_plan(conn, [program.id], now)


def _write_persons(
    conn: Connection, out: Batch, resolver: PersonResolver, cipher: FieldCipher, now: datetime
) -> None:
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


def _update_joined_cases(conn: Connection, program: Program, out: Batch, now: datetime) -> None:
    """A joined case learns its person, a later overdose moves its window, each join is
    announced: one statement for each, for the whole batch."""
    if out.person_set:
        conn.execute(
            update(cases)
            .where(and_(cases.c.id == bindparam("b_case"), cases.c.person_id.is_(None)))
            .values(person_id=bindparam("b_person"), updated_at=now),
            [{"b_case": c, "b_person": p} for c, p in out.person_set.items()],
        )
    if out.rewindowed:
        conn.execute(
            update(cases)
            .where(cases.c.id == bindparam("b_case"))
            .values(
                window_opens_at=bindparam("b_opens"),
                window_due_at=bindparam("b_due"),
                missed_at=None,
                updated_at=now,
                version=cases.c.version + 1,
            ),
            [
                {"b_case": case_id, "b_opens": opens_at, "b_due": due_at}
                for case_id, (opens_at, due_at) in out.rewindowed.items()
            ],
        )
        records.reschedule_many_timers(
            conn,
            [(c, opens, due) for c, (opens, due) in out.rewindowed.items()],
            program.at_risk_before_due,
        )
    records.announce_many(
        conn, [(case_id, CaseEventKind.LINKED, detail) for case_id, detail in out.linked], now
    )


def _write_reviews(conn: Connection, program: Program, out: Batch, now: datetime) -> None:
    """The batch's uncertain matches, for a person to decide: one insert."""
    if not out.reviews:
        return
    rows = event_rows_of(conn, [event for event, _, _ in out.reviews])
    conn.execute(
        match_reviews.insert(),
        [
            {
                "program_id": program.id,
                "event_row_id": rows[event_key(event)][0],
                "case_id": rows[event_key(event)][1],
                "person_id": found.person_id,
                "candidate_person_id": candidate,
                "score": found.score.score if found.score else 0.0,
                "evidence": (
                    " ".join([*found.score.evidence, *found.score.conflicts]) if found.score else ""
                ),
                "status": "open",
                "created_at": now,
            }
            for event, candidate, found in out.reviews
        ],
    )


def _sealed_clinical(cipher: FieldCipher, key: str, event: OverdoseEvent) -> str | None:
    facts = person_records.clinical_of(event)
    return person_records.seal_clinical(cipher, key, facts) if facts else None


def _with_defaults(row: dict[str, object]) -> dict[str, object]:
    """executemany needs the same keys in every row."""
    return {"case_id": None, "person_id": None, "match_decision": None, "phone_token": None, **row}

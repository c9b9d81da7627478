"""What one batch of one program writes: the verdicts of services/core/cases.py turned
into rows (persons, cases, timers, events, case events, reviews, consents), written one
statement a table, and the deaths settled after. Inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, select, update

from schemas.cases import TIER_RANK, CaseEvent, CaseEventKind, CaseStatus, EventRef
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
from services.cases.scene import own_tokens
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


def event_row(
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
        "scene_sealed": person_records.seal_scene(cipher, key, event.location),
        "phone_token": _phone_token(cipher, event),
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
    row: dict[str, object],
    found: Resolution,
    verdict: Verdict,
    cipher: FieldCipher,
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
                phone = _phone_token(cipher, event)
                out.deaths.append(
                    Death(person_id, event.occurred_at, event.source.value, event.event_id, phone)
                )
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
    out.consents.extend(_sms_consent(program, event, person_id, target, cipher, now))
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
    for event, candidate, found in out.reviews:
        _write_review(conn, program, event, candidate, found, now)
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
    announced."""
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


def _write_review(
    conn: Connection,
    program: Program,
    event: OverdoseEvent,
    candidate: str,
    found: Resolution,
    now: datetime,
) -> None:
    event_row = conn.execute(
        select(events.c.id, events.c.case_id).where(
            and_(
                events.c.source == event.source.value,
                events.c.agency_id == event.agency_id,
                events.c.event_id == event.event_id,
            )
        )
    ).one()
    score = found.score
    conn.execute(
        match_reviews.insert().values(
            program_id=program.id,
            event_row_id=event_row.id,
            case_id=event_row.case_id,
            person_id=found.person_id,
            candidate_person_id=candidate,
            score=score.score if score else 0.0,
            evidence=" ".join([*score.evidence, *score.conflicts]) if score else "",
            status="open",
            created_at=now,
        )
    )


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

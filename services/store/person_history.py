"""A person's history as a role may see it (schemas/person_views.py): read in one
transaction with its audit row. Roles that may not see the person get nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, or_, select

from schemas.cases import CaseKind, CaseStatus, Referral, ReferralKind, Tier
from schemas.overdose_event import Source
from schemas.person_views import OverdoseView, PersonCase, PersonHistory, ReviewRef, TextView
from services.accounts.redaction import redact, redacted_result
from services.accounts.roles import Capability, Principal
from services.cases.engagement_rules import next_checkin_of
from services.crypto.fields import FieldCipher
from services.store.case_reads import attempts_of, place_of
from services.store.case_records import audit
from services.store.contact_records import family_case_of
from services.store.queue_reads import person_view, storable_id
from services.store.tables import cases, events, match_reviews, persons, sms_texts
from services.store.treatment_records import treatment_views


def person_history(
    conn: Connection, cipher: FieldCipher, person_id: str, who: Principal, now: datetime
) -> PersonHistory | None:
    """The person's history, or None when there is no such person in a program where
    `who` may see persons. Call inside a transaction: the read is audited with it."""
    if not storable_id(person_id):
        return None
    row = conn.execute(select(persons.c.program_id).where(persons.c.id == person_id)).first()
    if row is None or not who.can(row.program_id, Capability.VIEW_PERSON):
        return None
    program_id = row.program_id
    clinical = who.can(program_id, Capability.VIEW_CLINICAL)
    found = _cases(conn, cipher, person_id, clinical)
    history = PersonHistory(
        person_id=person_id,
        program_id=program_id,
        person=person_view(conn, cipher, person_id),
        overdoses=_overdoses(conn, cipher, person_id),
        cases=found,
        texts=_texts(conn, person_id),
        reviews=_reviews(conn, person_id),
        family_case_id=family_case_of(conn, program_id, person_id),
    )
    audit(
        conn,
        now,
        who.actor,
        "person_read",
        "person",
        person_id,
        {"cases": [c.case_id for c in found], "clinical": clinical},
    )
    return redact(history, who, program_id)


def _overdoses(conn: Connection, cipher: FieldCipher, person_id: str) -> list[OverdoseView]:
    rows = conn.execute(
        select(events)
        .where(events.c.person_id == person_id, events.c.source != Source.REFERRAL.value)
        .order_by(events.c.occurred_at.desc(), events.c.id.desc())
    ).all()
    return [
        OverdoseView(
            occurred_at=r.occurred_at,
            source=r.source,
            agency_id=r.agency_id,
            event_id=r.event_id,
            fatal=r.fatal,
            case_id=r.case_id,
            place=place_of(cipher, r),
        )
        for r in rows
    ]


def _cases(
    conn: Connection, cipher: FieldCipher, person_id: str, clinical: bool
) -> list[PersonCase]:
    rows = conn.execute(
        select(cases)
        .where(cases.c.person_id == person_id)
        .order_by(cases.c.occurred_at.desc(), cases.c.id)
    ).all()
    tried = attempts_of(conn, cipher, [r.id for r in rows], clinical, True)
    treated = treatment_views(conn, [r.id for r in rows], clinical=clinical)
    return [
        PersonCase(
            case_id=r.id,
            status=CaseStatus(r.status),
            tier=Tier(r.tier),
            occurred_at=r.occurred_at,
            window_due_at=r.window_due_at,
            closed_at=r.closed_at,
            outcome=r.outcome if clinical else redacted_result(r.outcome),
            referral=Referral(r.referral) if clinical and r.referral else None,
            attempts=tried[r.id],
            kind=CaseKind(r.kind),
            referral_kind=ReferralKind(r.referral_kind) if clinical and r.referral_kind else None,
            treatment=treated[r.id],
            next_checkin_at=next_checkin_of(r),
        )
        for r in rows
    ]


def _texts(conn: Connection, person_id: str) -> list[TextView]:
    case_ids = select(cases.c.id).where(cases.c.person_id == person_id)
    rows = conn.execute(
        select(sms_texts)
        .where(or_(sms_texts.c.person_id == person_id, sms_texts.c.case_id.in_(case_ids)))
        .order_by(sms_texts.c.due_at.desc(), sms_texts.c.id.desc())
        .limit(200)
    ).all()
    return [
        TextView(case_id=r.case_id, kind=r.kind, state=r.state, due_at=r.due_at, sent_at=r.sent_at)
        for r in rows
    ]


def _reviews(conn: Connection, person_id: str) -> list[ReviewRef]:
    rows = conn.execute(
        select(match_reviews)
        .where(
            or_(
                match_reviews.c.person_id == person_id,
                match_reviews.c.candidate_person_id == person_id,
            )
        )
        .order_by(match_reviews.c.created_at.desc())
    ).all()
    return [
        ReviewRef(
            id=r.id,
            status=r.status,
            score=r.score,
            created_at=r.created_at,
            resolved_at=r.resolved_at,
        )
        for r in rows
    ]

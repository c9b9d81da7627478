"""One case as a role may see it: its reports (with the scene), its attempts (with the
visit record) and the client's replies. Sealed data is opened only for a role that may
see it, and every such read is written to the audit log in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from schemas.case_views import (
    AttemptView,
    CaseDetail,
    ClinicalFacts,
    PlaceView,
    ReplyView,
    ReportView,
)
from schemas.cases import CaseStatus, EventRef, Referral, Tier
from schemas.visits import PersonMet, ServiceGiven, VisitMethod
from services.accounts.redaction import redact, redacted_result
from services.accounts.roles import Capability, Principal
from services.cases.engagement_rules import engagement_fields
from services.core.cases import stored_event_key
from services.crypto.fields import FieldCipher
from services.store import person_records
from services.store.case_records import audit, planned_of
from services.store.contact_records import contact_fields
from services.store.queue_reads import person_view, storable_id
from services.store.referral_records import with_referrals
from services.store.tables import attempts, cases, events, sms_replies
from services.store.treatment_records import treatment_views
from services.store.user_reads import usernames


def words_of(value: str | None) -> list[str]:
    return value.split() if value else []


def place_of(cipher: FieldCipher, r: Any) -> PlaceView | None:
    """The scene of an `events` row, opened (None when the report named no place)."""
    if not r.scene_sealed:
        return None
    where = person_records.open_scene(
        cipher, stored_event_key(r.source, r.agency_id, r.event_id), r.scene_sealed
    )
    if not (where.address or where.city or where.zip or where.lat is not None):
        return None  # a county alone is no place to go
    return PlaceView(
        address=where.address, address2=where.address2, city=where.city, state=where.state,
        zip=where.zip, lat=where.lat, lon=where.lon, description=where.description,
    )  # fmt: skip


def reports_of(
    conn: Connection, cipher: FieldCipher, case_id: str, *, clinical: bool, person: bool
) -> list[ReportView]:
    rows = conn.execute(
        select(events)
        .where(events.c.case_id == case_id)
        .order_by(events.c.occurred_at, events.c.id)
    ).all()
    out = []
    for r in rows:
        facts: ClinicalFacts | None = None
        if clinical and r.clinical_sealed:
            key = stored_event_key(r.source, r.agency_id, r.event_id)
            facts = person_records.open_clinical(cipher, key, r.clinical_sealed)
        ref = EventRef(
            source=r.source, agency_id=r.agency_id, event_id=r.event_id,
            incident_number=r.incident_number, occurred_at=r.occurred_at,
        )  # fmt: skip
        out.append(
            ReportView(
                ref=ref,
                fatal=r.fatal,
                clinical=facts,
                place=place_of(cipher, r) if person else None,
            )
        )
    return out


def attempt_view(cipher: FieldCipher, r: Any, clinical: bool, notes_too: bool) -> AttemptView:
    """An `attempts` row as a view; needs, barriers and services only with clinical sight
    (they can tell of use, treatment or the law), the notes only with sight of both the
    person and clinical facts (free text can name anyone)."""
    notes = None
    if clinical and notes_too and r.notes_sealed:
        notes = cipher.open(r.notes_sealed, person_records.notes_aad(r.case_id, r.attempt_no))
    return AttemptView(
        attempt_no=r.attempt_no,
        at=r.at,
        team_id=r.team_id,
        result=r.result if clinical else str(redacted_result(r.result)),
        referral=Referral(r.referral) if clinical and r.referral else None,
        recorded_by=r.recorded_by,
        recorded_at=r.recorded_at,
        method=VisitMethod(r.method) if r.method else None,
        people_met=[PersonMet(w) for w in words_of(r.people_met)],
        notes=notes,
        needs=words_of(r.needs) if clinical else [],
        barriers=words_of(r.barriers) if clinical else [],
        services=[ServiceGiven(w) for w in words_of(r.services)] if clinical else [],
        contact_id=r.contact_id,
    )


def attempts_of(
    conn: Connection, cipher: FieldCipher, case_ids: list[str], clinical: bool, notes_too: bool
) -> dict[str, list[AttemptView]]:
    found: dict[str, list[AttemptView]] = {c: [] for c in case_ids}
    rows = conn.execute(
        select(attempts)
        .where(attempts.c.case_id.in_(case_ids))
        .order_by(attempts.c.case_id, attempts.c.attempt_no)
    ).all()
    for r in rows:
        found[r.case_id].append(attempt_view(cipher, r, clinical, notes_too))
    return found


def replies_of(conn: Connection, cipher: FieldCipher, case_id: str) -> list[ReplyView]:
    rows = conn.execute(
        select(sms_replies)
        .where(sms_replies.c.case_id == case_id)
        .order_by(sms_replies.c.received_at, sms_replies.c.id)
    ).all()
    out = []
    for r in rows:
        body = (
            person_records.open_reply(cipher, r.message_sid, r.body_sealed)
            if r.body_sealed
            else None
        )
        out.append(ReplyView(id=r.id, received_at=r.received_at, keyword=r.keyword, body=body))
    return out


def case_detail(
    conn: Connection, cipher: FieldCipher, case_id: str, who: Principal, now: datetime
) -> CaseDetail | None:
    """One case as `who` may see it; None if it is not in one of their programs.

    Call inside a transaction: the read is audited with it."""
    if not storable_id(case_id):
        return None
    row = conn.execute(select(cases).where(cases.c.id == case_id)).first()
    if row is None or not who.can(row.program_id, Capability.VIEW_QUEUE):
        return None
    clinical = who.can(row.program_id, Capability.VIEW_CLINICAL)
    sees_person = who.can(row.program_id, Capability.VIEW_PERSON)
    person = person_view(conn, cipher, row.person_id) if sees_person and row.person_id else None
    replies = replies_of(conn, cipher, case_id) if sees_person and clinical else []
    owners = usernames(conn, [row.owner_user_id])
    detail = CaseDetail(
        case_id=row.id,
        program_id=row.program_id,
        version=row.version,
        status=CaseStatus(row.status),
        tier=Tier(row.tier),
        occurred_at=row.occurred_at,
        window_opens_at=row.window_opens_at,
        window_due_at=row.window_due_at,
        planned=planned_of(row, now),
        at_risk_reason=row.at_risk_reason,
        missed=row.missed_at is not None,
        callback_requested=row.callback_requested_at is not None,
        phone_invalid=row.phone_invalid_at is not None,
        possible_death=row.possible_death_at is not None,
        merged_into=row.merged_into,
        owner=owners.get(row.owner_user_id) if row.owner_user_id else None,
        assigned_team_id=row.assigned_team_id,
        assigned_shift_start=row.assigned_shift_start,
        outcome=row.outcome if clinical else redacted_result(row.outcome),
        referral=Referral(row.referral) if clinical and row.referral else None,
        person_id=row.person_id,
        person=person,
        reports=reports_of(conn, cipher, case_id, clinical=clinical, person=sees_person),
        attempts=attempts_of(conn, cipher, [case_id], clinical, sees_person)[case_id],
        replies=replies,
        **engagement_fields(row),
        **contact_fields(conn, cipher, row, who, now),
        treatment=treatment_views(conn, [case_id], clinical=clinical)[case_id],
    )
    detail, read = with_referrals(conn, cipher, detail, row, clinical=clinical, person=sees_person)
    audit(
        conn, now, who.actor, "case_read", "case", case_id,
        {"person": person is not None, "clinical": clinical, "replies": [r.id for r in replies],
         **read},
    )  # fmt: skip
    return redact(detail, who, row.program_id)

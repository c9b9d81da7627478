"""Which texts a case's client gets: queue them, keep them in step with the case,
cancel them when consent goes or contact ends. Every text is a row with an
idempotency key (case id + what it is) before anything is sent, so re-running
this for the same case (a redelivered case event) queues nothing twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from schemas.cases import CaseEventKind, CaseStatus, VisitResult
from schemas.sms import ConsentSource, OutboundText, TextState
from services.crypto.fields import FieldCipher
from services.programs import Program, Programs
from services.sms import consent
from services.sms.cadence import texts_for_case
from services.sms.recipient_time import next_permitted, recipient_zone, sending_hours
from services.sms.templates import day_name, render
from services.store import person_records
from services.store.repository import Store
from services.store.tables import cases, events, sms_outbox, sms_texts
from services.topics import SMS_OUTBOUND

STALE_AFTER = timedelta(hours=24)  # a text this late is not sent at all
# The case events that can change which texts a case gets (who, when, whether at all).
TEXT_RELEVANT = frozenset(
    {
        CaseEventKind.OPENED,
        CaseEventKind.LINKED,
        CaseEventKind.UNLINKED,
        CaseEventKind.PLANNED,
        CaseEventKind.AT_RISK,  # the case lost its slot: no visit-day reminder
        CaseEventKind.OUTCOME_RECORDED,
        CaseEventKind.CLOSED,
    }
)


@dataclass(frozen=True)
class Recipient:
    phone: str
    token: str
    language: str | None
    zip_code: str | None


def to_aad(idempotency_key: str) -> str:
    return f"sms_texts.to:{idempotency_key}"


def recipient_of(conn: Connection, cipher: FieldCipher, case: Any) -> Recipient | None:
    """The newest phone given in the case's events whose owner consents to texts.

    Found by the events' phone tokens first: a case with no consenting phone is
    settled without opening a single sealed record."""
    rows = conn.execute(
        select(
            events.c.source,
            events.c.agency_id,
            events.c.event_id,
            events.c.patient_sealed,
            events.c.phone_token,
        )
        .where(and_(events.c.case_id == case.id, events.c.phone_token.is_not(None)))
        .order_by(events.c.occurred_at.desc(), events.c.id.desc())
    ).all()
    for r in rows:
        if not consent.granted(conn, case.program_id, r.phone_token):
            continue
        key = f"{r.source}|{r.agency_id}|{r.event_id}"
        patient = person_records.open_patient(cipher, key, r.patient_sealed)
        phone = consent.e164(patient.phone)
        if phone is None:
            continue
        zip_code = patient.address.zip if patient.address else None
        return Recipient(phone, r.phone_token, patient.language, zip_code)
    return None


def announce_text(conn: Connection, row: Any, at: datetime, **changes: Any) -> None:
    """Write the text's new state to the SMS outbox (`sms.outbound.v1`)."""
    merged = {**row._mapping, **changes} if hasattr(row, "_mapping") else {**row, **changes}
    record = OutboundText(
        text_id=merged["id"],
        program_id=merged["program_id"],
        case_id=merged["case_id"],
        kind=merged["kind"],
        state=TextState(merged["state"]),
        at=at,
        due_at=merged["due_at"],
        send_after=merged["send_after"],
        twilio_sid=merged.get("twilio_sid"),
        error_code=merged.get("error_code"),
        reason=merged.get("reason"),
    )
    conn.execute(
        sms_outbox.insert().values(
            topic=SMS_OUTBOUND,
            key=record.program_id,
            payload=record.model_dump_json(),
            created_at=at,
        )
    )


def cancel_texts(conn: Connection, where: Any, reason: str, now: datetime) -> int:
    """Every queued text matching `where` is cancelled (a text being sent cannot be)."""
    rows = conn.execute(
        select(sms_texts).where(and_(where, sms_texts.c.state == TextState.QUEUED.value))
    ).all()
    for row in rows:
        conn.execute(
            update(sms_texts)
            .where(and_(sms_texts.c.id == row.id, sms_texts.c.state == TextState.QUEUED.value))
            .values(state=TextState.CANCELLED.value, reason=reason, final_at=now, updated_at=now)
        )
        announce_text(conn, row, now, state=TextState.CANCELLED.value, reason=reason)
    return len(rows)


def revoke(
    conn: Connection,
    program_ids: list[str],
    token: str,
    source: ConsentSource,
    now: datetime,
    *,
    case_id: str | None = None,
) -> int:
    """Consent withdrawn in these programs: recorded, and every text not yet sent cancelled."""
    consent.record(
        conn,
        [consent.consent_row(p, token, False, source, now, case_id=case_id) for p in program_ids],
    )
    return cancel_texts(
        conn,
        and_(sms_texts.c.phone_token == token, sms_texts.c.program_id.in_(program_ids)),
        f"consent revoked ({source.value})",
        now,
    )


def schedule_case_texts(
    store: Store, cipher: FieldCipher, programs: Programs, case_id: str, now: datetime
) -> int:
    """Bring the case's texts in step with the case; return how many were queued."""
    with store.transaction() as conn:
        case = conn.execute(select(cases).where(cases.c.id == case_id)).first()
        if case is None:
            return 0
        program = programs.get(case.program_id)
        if program is None:
            return 0
        return _schedule(conn, cipher, program, case, now)


def _schedule(
    conn: Connection, cipher: FieldCipher, program: Program, case: Any, now: datetime
) -> int:
    settings = program.sms
    outcome = VisitResult(case.outcome) if case.outcome else None
    if settings.stops_texts(outcome):
        if outcome is VisitResult.OPTED_OUT:
            recipient = recipient_of(conn, cipher, case)
            if recipient is not None:
                revoke(
                    conn, [program.id], recipient.token, ConsentSource.OUTCOME, now, case_id=case.id
                )
        cancel_texts(conn, sms_texts.c.case_id == case.id, f"case closed: {outcome}", now)
        return 0
    recipient = recipient_of(conn, cipher, case)
    if recipient is None:
        cancel_texts(conn, sms_texts.c.case_id == case.id, "no phone with consent", now)
        return 0
    zone = recipient_zone(recipient.zip_code, recipient.phone, program.zone)
    hours = sending_hours(zone.state)
    closed = case.status == CaseStatus.CLOSED.value
    planned = texts_for_case(
        settings,
        occurred_at=case.occurred_at,
        window_opens_at=case.window_opens_at,
        planned_visit_from=None if closed else case.planned_visit_from,
        zone=zone.zone,
    )
    if closed:
        planned = [p for p in planned if p.key.startswith("follow_up")]
    wanted = {f"{case.id}:{p.key}" for p in planned}
    cancel_texts(
        conn,
        and_(sms_texts.c.case_id == case.id, sms_texts.c.idempotency_key.not_in(wanted or {""})),
        "no longer planned",
        now,
    )
    rows = []
    for p in planned:
        if now - p.due_at > STALE_AFTER:
            continue
        key = f"{case.id}:{p.key}"
        visit_day = (
            day_name(p.visit_day.date(), recipient.language) if p.visit_day is not None else None
        )
        text = render(
            p.kind,
            recipient.language,
            team_name=settings.team_name,
            callback_number=settings.callback_number,
            visit_day=visit_day,
        )
        rows.append(
            {
                "idempotency_key": key,
                "program_id": program.id,
                "case_id": case.id,
                "person_id": case.person_id,
                "phone_token": recipient.token,
                "to_sealed": cipher.seal(recipient.phone, to_aad(key)),
                "kind": p.kind.value,
                "language": text.language,
                "body": text.text,
                "zone": zone.zone.key,
                "state_code": zone.state,
                "state": TextState.QUEUED.value,
                "due_at": p.due_at,
                "send_after": next_permitted(max(p.due_at, now), zone.zone, hours),
                "tries": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    if not rows:
        return 0
    existing = set(
        conn.execute(
            select(sms_texts.c.idempotency_key).where(
                sms_texts.c.idempotency_key.in_([r["idempotency_key"] for r in rows])
            )
        ).scalars()
    )
    fresh = [r for r in rows if r["idempotency_key"] not in existing]
    if not fresh:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(sms_texts).on_conflict_do_nothing(), fresh)
    for row in conn.execute(
        select(sms_texts).where(
            sms_texts.c.idempotency_key.in_([r["idempotency_key"] for r in fresh])
        )
    ):
        announce_text(conn, row, now)
    return len(fresh)

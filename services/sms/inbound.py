"""What comes back from Twilio: replies and delivery statuses (webhook handlers' core).

Replies: STOP and its synonyms revoke consent and cancel every text not yet
sent; START/UNSTOP/YES grant it again and re-queue what the STOP cancelled;
HELP is recorded (Twilio answers the keyword itself, as it does for STOP and
START). Any other reply is sealed, attached to the client's latest texted case
and flags that case for a call-back in the queue. Every handler is idempotent
on Twilio's MessageSid."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from schemas.sms import ConsentSource, SmsEvent, SmsEventKind, TextState
from services.core.sending import STALE_AFTER
from services.crypto.fields import FieldCipher
from services.sms import consent
from services.sms.delivery import apply_statuses, keep_status
from services.sms.keywords import KeywordFamily, keyword_family
from services.sms.texts import announce_text, revoke
from services.store.repository import Store
from services.store.tables import cases, sms_outbox, sms_replies, sms_texts
from services.topics import SMS_EVENTS

REVOKED_PREFIX = "consent revoked"


def _event(conn: Connection, record: SmsEvent) -> None:
    conn.execute(
        sms_outbox.insert().values(
            topic=SMS_EVENTS,
            key=record.program_id or "unknown",
            payload=record.model_dump_json(),
            created_at=record.at,
        )
    )


def handle_status(
    store: Store, sid: str, status: str, error_code: int | None, now: datetime
) -> bool:
    """A delivery status callback; False when it was a repeat."""
    with store.transaction() as conn:
        if not keep_status(conn, sid, status, error_code, now):
            return False
        text_id = apply_statuses(conn, sid, now)
        row = (
            conn.execute(select(sms_texts).where(sms_texts.c.id == text_id)).first()
            if text_id is not None
            else None
        )
        _event(
            conn,
            SmsEvent(
                kind=SmsEventKind.STATUS,
                at=now,
                message_sid=sid,
                program_id=row.program_id if row else None,
                case_id=row.case_id if row else None,
                text_id=text_id,
                status=status,
                error_code=error_code,
            ),
        )
        return True


def handle_reply(
    store: Store, cipher: FieldCipher, sid: str, sender: str, body: str, now: datetime
) -> KeywordFamily | bool | None:
    """An inbound text. Returns its keyword family (None for a plain reply), or False
    for a repeat of a MessageSid already handled."""
    phone = consent.e164(sender)
    token = consent.phone_token(cipher, phone or sender.strip())
    family = keyword_family(body)
    with store.transaction() as conn:
        last = conn.execute(
            select(sms_texts.c.program_id, sms_texts.c.case_id)
            .where(sms_texts.c.phone_token == token)
            .order_by(sms_texts.c.id.desc())
            .limit(1)
        ).first()
        program_id = last.program_id if last else None
        case_id = last.case_id if last else None
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        inserted = conn.execute(
            dialect.insert(sms_replies)
            .values(
                message_sid=sid,
                phone_token=token,
                program_id=program_id,
                case_id=case_id,
                keyword=family.value if family else None,
                body_sealed=None if family else cipher.seal(body, f"sms_replies.body:{sid}"),
                received_at=now,
            )
            .on_conflict_do_nothing()
            .returning(sms_replies.c.id)
        ).first()
        if inserted is None:
            return False
        kind = _act_on(conn, family, token, case_id, now)
        _event(
            conn,
            SmsEvent(kind=kind, at=now, message_sid=sid, program_id=program_id, case_id=case_id),
        )
    return family


def _act_on(
    conn: Connection, family: KeywordFamily | None, token: str, case_id: str | None, now: datetime
) -> SmsEventKind:
    """STOP revokes, START consents again and requeues, HELP is only recorded (Twilio
    answers it), a plain reply asks the team to call back."""
    programs = consent.programs_of(conn, token)
    if family is KeywordFamily.OPT_OUT:
        revoke(conn, programs, token, ConsentSource.INBOUND_STOP, now)
        return SmsEventKind.OPTED_OUT
    if family is KeywordFamily.OPT_IN:
        consent.record(
            conn,
            [
                consent.consent_row(p, token, True, ConsentSource.INBOUND_START, now)
                for p in programs
            ],
        )
        _requeue_after_opt_in(conn, token, now)
        return SmsEventKind.OPTED_IN
    if family is KeywordFamily.HELP:
        return SmsEventKind.HELP
    if case_id is not None:
        conn.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(callback_requested_at=now, updated_at=now, version=cases.c.version + 1)
        )
    return SmsEventKind.REPLY


def _requeue_after_opt_in(conn: Connection, token: str, now: datetime) -> None:
    """Texts a STOP cancelled that are still timely go back to the queue."""
    rows = conn.execute(
        select(sms_texts).where(
            and_(
                sms_texts.c.phone_token == token,
                sms_texts.c.state == TextState.CANCELLED.value,
                sms_texts.c.reason.like(f"{REVOKED_PREFIX}%"),
                sms_texts.c.due_at > now - STALE_AFTER,
            )
        )
    ).all()
    for row in rows:
        changes = {
            "state": TextState.QUEUED.value,
            "final_at": None,
            "reason": "consent given again",
            "send_after": max(row.send_after, now),
            "updated_at": now,
        }
        conn.execute(update(sms_texts).where(sms_texts.c.id == row.id).values(**changes))
        announce_text(conn, row, now, **changes)

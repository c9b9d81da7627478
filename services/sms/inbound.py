"""What comes back from Twilio: replies and delivery statuses (webhook handlers' core).

Replies: Twilio's `OptOutType` (Advanced Opt-Out: STOP, START, HELP, for the
keywords it manages in any language) decides first, then our keyword list
(services/sms/keywords.py). STOP and its synonyms revoke consent and cancel every
text not yet sent; START/UNSTOP/YES grant it again and re-queue what the STOP
cancelled; HELP is recorded and nothing is sent: Twilio answers the keyword itself
(its default handling, or the reply configured for Advanced Opt-Out), as it does
for STOP and START, so a text of ours would be a second answer. Any other reply is
sealed, attached to the client's latest texted case and flags that case for a
call-back in the queue. Every handler is idempotent on Twilio's MessageSid.

`reply_from_form` takes the webhook's form fields (From, Body, MessageSid,
OptOutType): the webhook and `qrt sms inbound` both come in through it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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


class MissingField(ValueError):
    """A form field Twilio always sends is missing."""


@dataclass(frozen=True)
class Inbound:
    """What one inbound text did."""

    family: KeywordFamily | None  # None: a plain reply
    repeat: bool = False  # a MessageSid already handled: nothing changed
    case_id: str | None = None  # the client's latest texted case, if any
    programs: int = 0  # programs whose consent a STOP or START changed
    texts: int = 0  # texts a STOP cancelled or a START queued again


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


def reply_from_form(
    store: Store, cipher: FieldCipher, form: Mapping[str, str], now: datetime
) -> Inbound:
    """An inbound text as Twilio's webhook posts it (or `qrt sms inbound` builds it)."""
    for name in ("MessageSid", "From"):
        if not form.get(name):
            raise MissingField(f"form field {name} is missing")
    return handle_inbound(
        store, cipher, form["MessageSid"], form["From"], form.get("Body", ""), now,
        opt_out_type=form.get("OptOutType"),
    )  # fmt: skip


def handle_reply(
    store: Store,
    cipher: FieldCipher,
    sid: str,
    sender: str,
    body: str,
    now: datetime,
    *,
    opt_out_type: str | None = None,
) -> KeywordFamily | bool | None:
    """An inbound text. Returns its keyword family (None for a plain reply), or False
    for a repeat of a MessageSid already handled."""
    done = handle_inbound(store, cipher, sid, sender, body, now, opt_out_type=opt_out_type)
    return False if done.repeat else done.family


def handle_inbound(
    store: Store,
    cipher: FieldCipher,
    sid: str,
    sender: str,
    body: str,
    now: datetime,
    *,
    opt_out_type: str | None = None,
) -> Inbound:
    phone = consent.e164(sender)
    token = consent.phone_token(cipher, phone or sender.strip())
    family = keyword_family(body, opt_out_type)
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
            return Inbound(family, repeat=True, case_id=case_id)
        kind, programs, texts = _act_on(conn, family, token, case_id, now)
        _event(
            conn,
            SmsEvent(kind=kind, at=now, message_sid=sid, program_id=program_id, case_id=case_id),
        )
    return Inbound(family, case_id=case_id, programs=programs, texts=texts)


def _act_on(
    conn: Connection, family: KeywordFamily | None, token: str, case_id: str | None, now: datetime
) -> tuple[SmsEventKind, int, int]:
    """STOP revokes, START consents again and requeues, HELP is only recorded (Twilio
    answers it), a plain reply asks the team to call back. With the programs and texts
    changed."""
    programs = consent.programs_of(conn, token)
    if family is KeywordFamily.OPT_OUT:
        cancelled = revoke(conn, programs, token, ConsentSource.INBOUND_STOP, now)
        return SmsEventKind.OPTED_OUT, len(programs), cancelled
    if family is KeywordFamily.OPT_IN:
        consent.record(
            conn,
            [
                consent.consent_row(p, token, True, ConsentSource.INBOUND_START, now)
                for p in programs
            ],
        )
        return SmsEventKind.OPTED_IN, len(programs), _requeue_after_opt_in(conn, token, now)
    if family is KeywordFamily.HELP:
        return SmsEventKind.HELP, 0, 0
    if case_id is not None:
        conn.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(callback_requested_at=now, updated_at=now, version=cases.c.version + 1)
        )
    return SmsEventKind.REPLY, 0, 0


def _requeue_after_opt_in(conn: Connection, token: str, now: datetime) -> int:
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
    return len(rows)

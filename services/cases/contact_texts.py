"""Texts to a contact of a case: the family's support check-in.

A contact gets a text only with their own consent: `sms_consent` recorded with them and
the latest word for their phone in the program a yes (a STOP from that phone ends it,
services/sms/inbound.py). Never to a phone of the client or of the person who died: any
phone their reports gave, or one a death blocked for them (services/cases/deaths.py),
is refused here, and the dispatcher checks the death again before the text goes (the
text carries the person's id). The wording says nothing of the client: no name, no
overdose, no treatment (`MessageKind.SUPPORT_CHECK_IN`; the renderer refuses such words,
services/sms/templates.py). Each text is a row with its idempotency key (case, slot,
contact) and `contact_id`, kept out of the client's own texts (services/sms/text_reads.py).

Inside the caller's transaction, with the case's program locked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from schemas.sms import ConsentSource
from services.crypto.fields import FieldCipher
from services.programs import Program
from services.sms import consent
from services.sms.cadence import PlannedText
from services.sms.recipient_time import recipient_zone
from services.sms.templates import MessageKind
from services.sms.text_plans import Recipient, text_row
from services.sms.texts import announce_text, to_aad
from services.store.contact_records import open_contact
from services.store.tables import events, sms_consents, sms_texts

SLOT = MessageKind.SUPPORT_CHECK_IN.value


def blocked_phones(
    conn: Connection, program_id: str, person_id: str | None, case_id: str
) -> set[str]:
    """The phone tokens a contact may never be texted at: those the case's reports and
    the person's reports gave (the client's, or the deceased's), and those a death
    blocked for the person."""
    whose = events.c.case_id == case_id
    if person_id is not None:
        whose = or_(whose, events.c.person_id == person_id)
    tokens = set(
        conn.execute(
            select(events.c.phone_token)
            .where(
                and_(events.c.program_id == program_id, whose, events.c.phone_token.is_not(None))
            )
            .distinct()
        ).scalars()
    )
    if person_id is not None:
        tokens.update(
            conn.execute(
                select(sms_consents.c.phone_token).where(
                    and_(
                        sms_consents.c.program_id == program_id,
                        sms_consents.c.person_id == person_id,
                        sms_consents.c.source == ConsentSource.DECEASED.value,
                    )
                )
            ).scalars()
        )
    return tokens


def why_not(conn: Connection, program: Program, contact: Any, blocked: set[str]) -> str | None:
    """Why this contact may not be texted, or None."""
    if not program.sms.enabled:
        return "texts are off for this program"
    if contact.removed_at is not None:
        return "the contact was removed"
    if not contact.sms_consent or contact.phone_token is None:
        return "no consent of the contact"
    if contact.phone_token in blocked:
        return "the client's or the deceased's phone"
    if not consent.granted(conn, program.id, contact.phone_token):
        return "consent withdrawn"
    return None


class _For:
    """What `text_row` reads of the case: its id and the person the text is about."""

    def __init__(self, case_id: str, person_id: str | None) -> None:
        self.id, self.person_id = case_id, person_id


def queue_support_text(
    conn: Connection,
    cipher: FieldCipher,
    program: Program,
    contact: Any,
    *,
    person_id: str | None,
    due_at: datetime,
    now: datetime,
    language: str | None = None,
) -> bool:
    """Queue the contact's support check-in, if they may get it; True when one was
    queued now (a contact gets it once per case)."""
    if why_not(
        conn, program, contact, blocked_phones(conn, program.id, person_id, contact.case_id)
    ):
        return False
    phone = open_contact(cipher, contact.id, contact.contact_sealed).phone
    if phone is None:
        return False
    key = f"{contact.case_id}:{SLOT}:{contact.id}"
    planned = PlannedText(MessageKind.SUPPORT_CHECK_IN, f"{SLOT}:{contact.id}", due_at)
    zone = recipient_zone(None, phone, program.zone)
    recipient = Recipient(phone, contact.phone_token, language, None)
    row = text_row(
        program, _For(contact.case_id, person_id), recipient, zone, planned,
        key=key, to_sealed=cipher.seal(phone, to_aad(key)), now=now,
    )  # fmt: skip
    row["contact_id"] = contact.id
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stored = conn.execute(
        dialect.insert(sms_texts).values(**row).on_conflict_do_nothing().returning(sms_texts)
    ).first()
    if stored is None:
        return False
    announce_text(conn, stored, now)
    return True

"""Consent to text check-ins, per program and phone, as an append-only history.

The latest row for (program, phone) decides: granted or not. Sources: the
event's `consent.sms`, a visit, an inbound START, STOP or Twilio's 21610, a
coordinator, an outcome that ends contact. A revocation cancels every text not
yet sent at once (services/sms/texts.py). Phones are found by blind index only."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, and_, select

from schemas.sms import ConsentSource
from services.crypto.fields import FieldCipher
from services.identity.normalize import normalize_phone
from services.store.tables import sms_consents

PHONE_INDEX_KIND = "sms_phone"


def phone_token(cipher: FieldCipher, e164: str) -> str:
    return cipher.blind(PHONE_INDEX_KIND, e164)


def e164(raw: str | None) -> str | None:
    return normalize_phone(raw)


def consent_row(
    program_id: str,
    token: str,
    granted: bool,
    source: ConsentSource,
    at: datetime,
    *,
    person_id: str | None = None,
    case_id: str | None = None,
) -> dict[str, object]:
    return {
        "program_id": program_id,
        "phone_token": token,
        "person_id": person_id,
        "granted": granted,
        "source": source.value,
        "case_id": case_id,
        "at": at,
    }


def record(conn: Connection, rows: Iterable[dict[str, object]]) -> None:
    rows = list(rows)
    if rows:
        conn.execute(sms_consents.insert(), rows)


def granted(conn: Connection, program_id: str, token: str) -> bool:
    """True only when the latest word for this phone in this program is a yes."""
    latest = conn.execute(
        select(sms_consents.c.granted)
        .where(and_(sms_consents.c.program_id == program_id, sms_consents.c.phone_token == token))
        .order_by(sms_consents.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return bool(latest)


def programs_of(conn: Connection, token: str) -> list[str]:
    return sorted(
        conn.execute(
            select(sms_consents.c.program_id).where(sms_consents.c.phone_token == token).distinct()
        ).scalars()
    )


def died(conn: Connection, program_id: str, token: str, person_id: str) -> bool:
    """True when a fatal report of this person names this phone: never a text for them."""
    return (
        conn.execute(
            select(sms_consents.c.id)
            .where(
                and_(
                    sms_consents.c.program_id == program_id,
                    sms_consents.c.phone_token == token,
                    sms_consents.c.person_id == person_id,
                    sms_consents.c.source == ConsentSource.DECEASED.value,
                )
            )
            .limit(1)
        ).first()
        is not None
    )

"""Twilio's delivery statuses, applied to texts: idempotent and only ever forward.

A status callback can arrive before the sender has recorded the message's sid
(Twilio is fast, a crash is possible), so every status is first kept in
`sms_statuses` (unique per sid and status) and applied to the text whenever
both are known."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from schemas.sms import TextState
from services.sms.texts import announce_text
from services.store.tables import sms_statuses, sms_texts

TWILIO_TO_STATE = {
    "sent": TextState.SENT,
    "delivered": TextState.DELIVERED,
    "undelivered": TextState.UNDELIVERED,
    "failed": TextState.FAILED,
}
RANK = {
    TextState.QUEUED: 0,
    TextState.SENDING: 1,
    TextState.CHECKING: 1,
    TextState.SENT: 2,
    TextState.DELIVERED: 3,
    TextState.UNDELIVERED: 3,
    TextState.FAILED: 3,
    TextState.CANCELLED: 3,
}


def keep_status(
    conn: Connection, sid: str, status: str, error_code: int | None, now: datetime
) -> bool:
    """Store one callback; False when this sid already had this status (a repeat)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    result = conn.execute(
        dialect.insert(sms_statuses)
        .values(message_sid=sid, status=status, error_code=error_code, received_at=now)
        .on_conflict_do_nothing()
        .returning(sms_statuses.c.id)
    ).first()
    return result is not None


def apply_statuses(conn: Connection, sid: str, now: datetime) -> int | None:
    """Move the text with this sid to the furthest state its callbacks reached; its id."""
    text = conn.execute(select(sms_texts).where(sms_texts.c.twilio_sid == sid)).first()
    if text is None:
        return None
    seen = conn.execute(
        select(sms_statuses.c.status, sms_statuses.c.error_code).where(
            sms_statuses.c.message_sid == sid
        )
    ).all()
    current = TextState(text.state)
    best, code = current, text.error_code
    for status, error_code in seen:
        state = TWILIO_TO_STATE.get(status)
        if state is not None and RANK[state] > RANK[best]:
            best, code = state, error_code
    if best is current:
        return int(text.id)
    final = RANK[best] == 3
    changes = {
        "state": best.value,
        "twilio_status": best.value,
        "error_code": code,
        "updated_at": now,
        "final_at": now if final else None,
    }
    conn.execute(update(sms_texts).where(sms_texts.c.id == text.id).values(**changes))
    announce_text(conn, text, now, **changes)
    return int(text.id)

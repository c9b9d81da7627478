"""Which sender a deployment uses: Twilio when credentials are set, else the local outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select, update

from services.clock import Clock
from services.crypto.fields import FieldCipher
from services.settings import Settings
from services.sms.consent import phone_token
from services.sms.dispatch import Sender
from services.sms.outbox_sender import LocalOutboxSender
from services.sms.twilio_sender import TwilioSender
from services.store.repository import Store
from services.store.tables import sms_outbox

OUTBOX_FILE = "sms-outbox.jsonl"


def sender_for(settings: Settings, cipher: FieldCipher, clock: Clock) -> Sender:
    if settings.twilio_account_sid and settings.twilio_auth_token:
        status_callback = (
            settings.twilio_public_url.rstrip("/") + "/twilio/status"
            if settings.twilio_public_url
            else None
        )
        return TwilioSender(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            from_number=settings.twilio_from_number,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            status_callback=status_callback,
            api_base_url=settings.twilio_api_base_url,
        )
    return LocalOutboxSender(
        settings.data_dir / OUTBOX_FILE, lambda to: phone_token(cipher, to), clock
    )


@dataclass(frozen=True)
class PendingSmsRecord:
    seq: int
    topic: str
    key: str
    payload: str


def unpublished(store: Store, limit: int = 500) -> list[PendingSmsRecord]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(sms_outbox.c.seq, sms_outbox.c.topic, sms_outbox.c.key, sms_outbox.c.payload)
            .where(sms_outbox.c.published_at.is_(None))
            .order_by(sms_outbox.c.seq)
            .limit(limit)
        ).all()
    return [PendingSmsRecord(r.seq, r.topic, r.key, r.payload) for r in rows]


def mark_published(store: Store, seqs: Sequence[int], at: datetime) -> None:
    with store.transaction() as conn:
        for start in range(0, len(seqs), 500):
            conn.execute(
                update(sms_outbox)
                .where(
                    and_(
                        sms_outbox.c.seq.in_(list(seqs[start : start + 500])),
                        sms_outbox.c.published_at.is_(None),
                    )
                )
                .values(published_at=at)
            )

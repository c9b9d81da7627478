"""Sending the on-call staff texts of raised alerts, through the product's sender
(Twilio, or the local outbox file in development).

Exactly once, as the check-ins are: a text is marked `sending` (committed) before the
call and `sent` after it; one found `sending` at the next pass (a crash between the two)
is looked up in the sender's own list first and only sent again when it is not there.
A refusal ends it (`failed`); a fault the sender may recover from waits RETRY_AFTER and
is tried up to MAX_ATTEMPTS times. A number removed from the programs file is not
texted (`dropped`). Quiet hours (08:00-21:00 in the program's zone) apply only when the
program's `[program.spikes] quiet_hours` is true. Neither a number nor a body is logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select

from services.crypto.fields import FieldCipher
from services.ports import TextSender
from services.programs import Programs
from services.sms.consent import phone_token
from services.sms.recipient_time import DEFAULT_HOURS, is_permitted, next_permitted
from services.sms.sender_types import SendRefused, SendRetryable
from services.store.repository import Store
from services.store.tables_spikes import spike_texts

log = logging.getLogger(__name__)
RETRY_AFTER = timedelta(seconds=60)
MAX_ATTEMPTS = 5
LOOKUP_SLACK = timedelta(minutes=2)


async def send_due(
    store: Store, cipher: FieldCipher, programs: Programs, sender: TextSender,
    clock: Callable[[], datetime],
) -> int:  # fmt: skip
    """Send every text due now; how many went out."""
    sent = 0
    for row in await asyncio.to_thread(_due, store, clock()):
        sent += await _one(store, cipher, programs, sender, clock, row)
    return sent


def _due(store: Store, now: datetime) -> list[Any]:
    t = spike_texts.c
    with store.engine.connect() as conn:
        return list(
            conn.execute(
                select(spike_texts)
                .where(or_(t.status == "sending", and_(t.status == "pending", t.due_at <= now)))
                .order_by(t.id)
                .limit(100)
            ).all()
        )


def _set(store: Store, text_id: int, **values: Any) -> None:
    with store.transaction() as conn:
        conn.execute(spike_texts.update().where(spike_texts.c.id == text_id).values(**values))


async def _one(
    store: Store, cipher: FieldCipher, programs: Programs, sender: TextSender,
    clock: Callable[[], datetime], row: Any,
) -> int:  # fmt: skip
    program = programs.get(row.program_id)
    phones = program.spikes.on_call if program else []
    phone = next((s.phone for s in phones if phone_token(cipher, s.phone) == row.phone_token), None)
    now = clock()
    if program is None or phone is None:
        await asyncio.to_thread(_set, store, row.id, status="dropped")
        return 0
    zone = program.zone
    if program.spikes.quiet_hours and not is_permitted(now, zone, DEFAULT_HOURS):
        later = next_permitted(now, zone, DEFAULT_HOURS)
        await asyncio.to_thread(_set, store, row.id, status="pending", due_at=later)
        return 0
    if row.status == "sending":
        found = await sender.find_sent(phone, row.body, row.sending_at - LOOKUP_SLACK, now)
        if found is not None:
            await asyncio.to_thread(_set, store, row.id, status="sent", sent_at=now, sid=found.sid)
            return 0
    attempts = row.attempts + 1
    await asyncio.to_thread(_set, store, row.id, status="sending", sending_at=now,
                            attempts=attempts)  # fmt: skip
    try:
        message = await sender.send(phone, row.body)
    except SendRefused as exc:
        log.warning("on-call text of alert %s refused: %s", row.alert_id, exc.detail)
        await asyncio.to_thread(_set, store, row.id, status="failed")
        return 0
    except SendRetryable as exc:
        if exc.maybe_sent:  # it may have gone: looked up at the next pass, never resent blind
            log.warning("on-call text of alert %s may have gone; checking", row.alert_id)
            return 0
        return await _later(store, clock, row, attempts, exc)
    except Exception as exc:  # the sender's fault, not the text's: tried again later
        return await _later(store, clock, row, attempts, exc)
    await asyncio.to_thread(_set, store, row.id, status="sent", sent_at=clock(), sid=message.sid)
    return 1


async def _later(
    store: Store, clock: Callable[[], datetime], row: Any, attempts: int, exc: Exception
) -> int:
    final = attempts >= MAX_ATTEMPTS
    log.warning("on-call text of alert %s not sent (attempt %d%s): %s", row.alert_id,
                attempts, ", giving up" if final else "", type(exc).__name__)  # fmt: skip
    await asyncio.to_thread(_set, store, row.id, status="failed" if final else "pending",
                            due_at=clock() + RETRY_AFTER)  # fmt: skip
    return 0

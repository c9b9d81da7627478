"""The gateway's inbox: on the embedded default, a 202 survives a crash of the stack.

The embedded broker keeps its topics in memory, so an event it acknowledged but the
workers had not stored yet would die with it. With the inbox on (`QRT_GATEWAY_INBOX`,
set by `qrt up` when it runs the embedded broker), the gateway keeps every event it
accepts in the store, sealed (it holds personal data), in the same request and before
it answers 202; then publishes. The API publishes again what the case worker has not
stored yet: at start (everything: a crash may have emptied the broker) and every
`RELAY_EVERY_S` (rows older than `RESEND_AFTER`). Consumers are idempotent by the
event's keys, so a second delivery changes nothing. A row leaves the inbox once its
event is in the store (`events`: opened, linked, fatal or too old alike); one never
stored after `MAX_TRIES` deliveries (the case worker dead-lettered it, with its
reason, on `overdose.rejected.v1`) is dropped from the inbox with an error in the log.

With an external Kafka (`KAFKA_BOOTSTRAP_SERVERS`) the broker's acks=all is the
promise and the inbox is off."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from schemas.overdose_event import OverdoseEvent, Source
from schemas.referral_event import IngestEvent, ReferralEvent
from services.crypto.fields import FieldCipher
from services.store.repository import Store
from services.store.tables import events, gateway_inbox

log = logging.getLogger(__name__)
RELAY_EVERY_S = 10.0
RESEND_AFTER = timedelta(seconds=30)
MAX_TRIES = 5


def _aad(event: IngestEvent | tuple[str, str, str]) -> str:
    source, agency, event_id = (
        event if isinstance(event, tuple) else (event.source.value, event.agency_id, event.event_id)
    )
    return f"gateway_inbox.event:{source}|{agency}|{event_id}"


def keep(store: Store, cipher: FieldCipher, accepted: Sequence[IngestEvent], now: datetime) -> None:
    """The accepted events, sealed, in one transaction (a repeat is kept once)."""
    if not accepted:
        return
    rows = [
        {
            "source": e.source.value,
            "agency_id": e.agency_id,
            "event_id": e.event_id,
            "event_sealed": cipher.seal(e.model_dump_json(exclude_none=True), _aad(e)),
            "accepted_at": now,
            "tries": 1,
        }
        for e in accepted
    ]
    with store.transaction() as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(gateway_inbox).on_conflict_do_nothing(), rows)


def _stored() -> object:
    return exists().where(
        and_(
            events.c.source == gateway_inbox.c.source,
            events.c.agency_id == gateway_inbox.c.agency_id,
            events.c.event_id == gateway_inbox.c.event_id,
        )
    )


def to_resend(
    store: Store, cipher: FieldCipher, now: datetime, *, all_of_them: bool, limit: int = 500
) -> list[IngestEvent]:
    """Events accepted but not stored yet (older than RESEND_AFTER unless `all_of_them`):
    forgets the stored ones and those tried MAX_TRIES times, counts a try for the rest."""
    i = gateway_inbox.c
    with store.transaction() as conn:
        conn.execute(delete(gateway_inbox).where(_stored()))  # type: ignore[arg-type]
        given_up = conn.execute(
            delete(gateway_inbox).where(i.tries >= MAX_TRIES).returning(i.source, i.agency_id)
        ).all()
        for source, agency in given_up:
            log.error(
                "an accepted %s event of %s was never stored after %d deliveries; "
                "see overdose.rejected.v1 for the reason",
                source, agency, MAX_TRIES,
            )  # fmt: skip
        query = select(gateway_inbox).order_by(i.id).limit(limit)
        if not all_of_them:
            query = query.where(i.accepted_at <= now - RESEND_AFTER)
        rows = conn.execute(query).all()
        if rows:
            conn.execute(
                update(gateway_inbox)
                .where(i.id.in_([r.id for r in rows]))
                .values(tries=i.tries + 1, last_sent_at=now)
            )
    return [
        (ReferralEvent if r.source == Source.REFERRAL.value else OverdoseEvent).model_validate_json(
            cipher.open(r.event_sealed, _aad((r.source, r.agency_id, r.event_id)))
        )
        for r in rows
    ]


def waiting(store: Store) -> int:
    """How many accepted events the case worker has not stored yet."""
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(gateway_inbox)).scalar_one())

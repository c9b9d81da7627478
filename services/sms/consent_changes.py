"""A coordinator's word on a client's texts, as use cases (each its own transaction):
consent given at a visit, or withdrawn now (the queued texts of that phone in that
program are cancelled)."""

from __future__ import annotations

from datetime import datetime

from schemas.sms import ConsentSource
from services.sms import consent
from services.sms.texts import revoke
from services.store.repository import Store


def grant_at_visit(store: Store, program_id: str, token: str, now: datetime) -> None:
    with store.transaction() as conn:
        consent.record(
            conn, [consent.consent_row(program_id, token, True, ConsentSource.VISIT, now)]
        )


def revoke_for_coordinator(store: Store, program_id: str, token: str, now: datetime) -> int:
    """How many queued texts were cancelled."""
    with store.transaction() as conn:
        return revoke(conn, [program_id], token, ConsentSource.COORDINATOR, now)

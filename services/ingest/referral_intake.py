"""Taking a referral from a member (the API, the staff form, `qrt referral create`) or a
partner agency (the API with its gateway key): the referral as it goes on `referral.v1`,
screened exactly as the intake worker screens it (so an accepted referral is never
dead-lettered afterwards), the audit row of its receipt, and the case it became.

The program's own staff send as the program itself (`agency_id` is the program's id);
a partner sends as its agency, which the program must list (`agency_ids`)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from schemas.intake import IntakeRecord, Origin, RejectedEvent
from schemas.referral_event import ReferralBody, ReferralEvent
from services.ingest.referral_screening import screen_referral
from services.ingest.screening import ScreeningRules
from services.programs import Programs
from services.store.case_records import audit
from services.store.referral_records import case_of_referral
from services.store.repository import Store

RECEIVED = "referral_received"  # the audit log's action


@dataclass(frozen=True)
class Sender:
    """Who sends a referral: the audit log's name for them, and a partner's agency (None
    for the program's own staff)."""

    actor: str
    agency_id: str | None = None


def referral_of(body: ReferralBody, program_id: str, sender: Sender, now: datetime) -> bytes:
    """The referral as it goes on `referral.v1`: the program from the path, the agency
    from the sender, a new id and the time of receipt when the body gives none."""
    data = body.model_dump(mode="json", exclude_none=True)
    data.update(
        referral_id=body.referral_id or str(uuid.uuid4()),
        referred_at=(body.referred_at or now).isoformat(),
        program_id=program_id,
    )
    if sender.agency_id is not None:
        data["agency_id"] = sender.agency_id
    return json.dumps(data).encode()


def screened(
    raw: bytes, origin: Origin, programs: Programs, rules: ScreeningRules, now: datetime
) -> ReferralEvent | RejectedEvent:
    """The referral as the intake worker will route it, or why it will refuse it."""
    result = screen_referral(raw, origin, programs=programs, now=now, rules=rules)
    if isinstance(result, RejectedEvent):
        return result
    assert isinstance(result, IntakeRecord) and result.referral is not None
    return result.referral


def record_received(store: Store, referral: ReferralEvent, sender: Sender, now: datetime) -> None:
    """The audit row of a referral the broker has (who sent it, for which program)."""
    with store.transaction() as conn:
        audit(
            conn, now, sender.actor[:64], RECEIVED, "referral", referral.referral_id[:64],
            {"program": referral.program_id, "agency": referral.agency_id,
             "referral_id": referral.referral_id},
        )  # fmt: skip


def referral_case(store: Store, program_id: str, referral_id: str) -> tuple[bool, str | None]:
    """Whether the case worker has stored a staff referral of the program, and the case
    it opened or joined."""
    with store.engine.connect() as conn:
        return case_of_referral(conn, program_id, program_id, referral_id)

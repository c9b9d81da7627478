"""Referrals in the store: their own facts sealed with their event (`events.referral_sealed`,
associated data naming the event), opened only for a role that may see them, and the
case a referral became.

The case detail's reader (`with_referrals`) opens the facts only with clinical sight or
sight of the person, leaves out what the role may not see, and says which referrers it
showed so that the case's `case_read` audit row names them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, select

from schemas.case_views import CaseDetail
from schemas.cases import CaseKind, ReferralKind
from schemas.overdose_event import Source
from schemas.referral_event import ReferralEvent
from schemas.referral_views import ReferralFacts, ReferralView
from services.core.cases import stored_event_key
from services.crypto.fields import FieldCipher
from services.store.tables import events

JOINED = "case_linked"  # the handling of a referral that joined an open case


def referral_aad(event_key: str) -> str:
    return f"events.referral:{event_key}"


def facts_of(referral: ReferralEvent) -> ReferralFacts:
    return ReferralFacts(
        kind=referral.kind, urgency=referral.urgency, referrer=referral.referrer,
        where=referral.person.where, notes=referral.notes,
        consent_visit=referral.consent.visit,
    )  # fmt: skip


def seal_referral(cipher: FieldCipher, event_key: str, referral: ReferralEvent) -> str:
    sealed = facts_of(referral).model_dump_json(exclude_none=True)
    return cipher.seal(sealed, referral_aad(event_key))


def open_referral(cipher: FieldCipher, event_key: str, sealed: str) -> ReferralFacts:
    return ReferralFacts.model_validate_json(cipher.open(sealed, referral_aad(event_key)))


def _view(cipher: FieldCipher, r: Any, clinical: bool, person: bool) -> ReferralView:
    base = ReferralView(
        referral_id=r.event_id, agency_id=r.agency_id, referred_at=r.occurred_at,
        joined=r.handling == JOINED,
    )  # fmt: skip
    if not (clinical or person) or not r.referral_sealed:
        return base  # nothing opened for nothing
    facts = open_referral(cipher, stored_event_key(r.source, r.agency_id, r.event_id),
                          r.referral_sealed)  # fmt: skip
    who = facts.referrer
    shown: dict[str, Any] = {"consent_visit": facts.consent_visit}
    if clinical:
        shown.update(kind=facts.kind, urgency=facts.urgency)
    if person:
        shown.update(
            referrer_name=who.name if who else None,
            referrer_relation=who.relation if who else None,
            referrer_phone=who.phone if who else None,
            where=facts.where,
        )
    if clinical and person:
        shown.update(notes=facts.notes)
    return base.model_copy(update=shown)


def referrals_of(
    conn: Connection, cipher: FieldCipher, case_id: str, *, clinical: bool, person: bool
) -> list[ReferralView]:
    """The referrals of a case, oldest first, as a role with this sight may see them."""
    c = events.c
    rows = conn.execute(
        select(c.source, c.agency_id, c.event_id, c.occurred_at, c.handling, c.referral_sealed)
        .where(and_(events.c.case_id == case_id, events.c.source == Source.REFERRAL.value))
        .order_by(events.c.occurred_at, events.c.id)
    ).all()
    return [_view(cipher, r, clinical, person) for r in rows]


def with_referrals(
    conn: Connection,
    cipher: FieldCipher,
    detail: CaseDetail,
    row: Any,
    *,
    clinical: bool,
    person: bool,
) -> tuple[CaseDetail, dict[str, list[str]]]:
    """The detail (of the case `row`) with its kind and referrals, and what its audit row
    adds: the referrals whose referrer was shown (`referrers`)."""
    found = referrals_of(conn, cipher, detail.case_id, clinical=clinical, person=person)
    shown = [r.referral_id for r in found if r.referrer_name or r.referrer_phone]
    kind = ReferralKind(row.referral_kind) if clinical and row.referral_kind else None
    changes = {"kind": CaseKind(row.kind), "referral_kind": kind, "referrals": found}
    return detail.model_copy(update=changes), {"referrers": shown}


def case_of_referral(
    conn: Connection, program_id: str, agency_id: str, referral_id: str
) -> tuple[bool, str | None]:
    """Whether the case worker has stored the referral, and the case it opened or joined
    (None when it opened none: older than the program's `max_event_age_days`)."""
    found = conn.execute(
        select(events.c.case_id).where(
            and_(
                events.c.program_id == program_id,
                events.c.source == Source.REFERRAL.value,
                events.c.agency_id == agency_id,
                events.c.event_id == referral_id,
            )
        )
    ).first()
    return (False, None) if found is None else (True, found.case_id)

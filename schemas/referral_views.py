"""A referral as the store keeps it (sealed: `events.referral_sealed`) and as the case's
detail shows it, cut by role (services/accounts/redaction.py): the kind and urgency like
clinical facts, who referred and where to find the person like the person's identity,
the notes only for roles that see both."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from schemas.cases import ReferralKind
from schemas.referral_event import Referrer, Urgency


class ReferralFacts(BaseModel):
    """What only the referral says (its person and time are the event's); sealed."""

    model_config = ConfigDict(frozen=True)

    kind: ReferralKind
    urgency: Urgency | None = None
    referrer: Referrer | None = None
    where: str | None = None  # where to find the person, in words
    notes: str | None = None
    consent_visit: bool | None = None


class ReferralView(BaseModel):
    """One referral of the case. `kind` and `urgency` only for roles with clinical sight;
    the referrer and `where` only for roles that see the person; `notes` for both."""

    model_config = ConfigDict(frozen=True)

    referral_id: str
    agency_id: str  # who sent it: a partner agency, or the program's own id (its staff)
    referred_at: datetime
    joined: bool = False  # it joined a case already open for the person
    kind: ReferralKind | None = None
    urgency: Urgency | None = None
    consent_visit: bool | None = None
    referrer_name: str | None = None
    referrer_relation: str | None = None
    referrer_phone: str | None = None
    where: str | None = None
    notes: str | None = None

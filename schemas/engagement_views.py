"""What the case's detail shows of everyone around the follow-up: its contacts (family,
friends, a partner; sealed at rest) and its referrals to treatment with their confirmed
states. Cut by role like the person and clinical facts (services/accounts/redaction.py)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class ContactRelation(StrEnum):
    FAMILY = "family"
    FRIEND = "friend"
    PARTNER = "partner"
    OTHER = "other"


class ContactView(BaseModel):
    """A contact of the case; name and phone only for roles that see identities."""

    model_config = ConfigDict(frozen=True)

    id: int
    relation: ContactRelation
    name: str | None = None
    phone: str | None = None
    sms_consent: bool = False
    created_at: datetime


class TreatmentState(StrEnum):
    REFERRED = "referred"
    ENTERED = "entered"
    RETAINED_30D = "retained_30d"
    RETAINED_90D = "retained_90d"
    DECLINED = "declined"
    NO_SHOW = "no_show"


class TreatmentReferralView(BaseModel):
    """A referral to a provider; law enforcement sees that one was made and when, not to
    what kind of treatment, where, nor what became of it (all but `id` and `referred_at`
    cut)."""

    model_config = ConfigDict(frozen=True)

    id: str
    provider_id: str | None = None
    provider_name: str | None = None
    kind: str | None = None
    state: TreatmentState | None = None
    referred_at: datetime
    entered_at: datetime | None = None
    retained_30d_at: datetime | None = None
    retained_90d_at: datetime | None = None
    ended_at: datetime | None = None

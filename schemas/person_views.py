"""A person's history in one program (`GET /api/v1/persons/{id}`): every overdose, every
case with its attempts and outcome, the texts and the match reviews. Only for roles that
may see the person; cut like a case for roles without clinical sight."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from schemas.case_views import AttemptView, PersonView, PlaceView
from schemas.cases import CaseKind, CaseStatus, Referral, ReferralKind, ShownTier
from schemas.engagement_views import TreatmentReferralView


class OverdoseView(BaseModel):
    model_config = ConfigDict(frozen=True)

    occurred_at: datetime
    source: str
    agency_id: str
    event_id: str
    fatal: bool
    case_id: str | None = None
    place: PlaceView | None = None


class PersonCase(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str
    status: CaseStatus
    tier: ShownTier
    occurred_at: datetime
    window_due_at: datetime
    closed_at: datetime | None = None
    outcome: str | None = None
    referral: Referral | None = None
    attempts: list[AttemptView] = Field(default_factory=list)
    kind: CaseKind = CaseKind.OVERDOSE
    referral_kind: ReferralKind | None = None  # cut like clinical facts
    treatment: list[TreatmentReferralView] = Field(default_factory=list)
    next_checkin_at: datetime | None = None  # an engaged client's next check-in


class TextView(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str | None
    kind: str
    state: str
    due_at: datetime
    sent_at: datetime | None = None


class ReviewRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    status: str
    score: float
    created_at: datetime
    resolved_at: datetime | None = None


class PersonHistory(BaseModel):
    model_config = ConfigDict(frozen=True)

    person_id: str
    program_id: str
    person: PersonView | None = None
    overdoses: list[OverdoseView]
    cases: list[PersonCase]
    texts: list[TextView]
    reviews: list[ReviewRef]
    family_case_id: str | None = None  # the family's case after this person's death

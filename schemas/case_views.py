"""What the work-queue API shows and takes about one case (`/api/v1/cases/...`).

Views are cut by role: `person` is left out for roles that may not see
identities, `clinical` and referrals for roles that may not see clinical facts
(law-enforcement members: 42 CFR Part 2)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.cases import (
    CaseKind,
    CaseStatus,
    EventRef,
    PlannedVisit,
    Referral,
    ReferralKind,
    ShownTier,
    VisitResult,
)
from schemas.engagement_views import ContactView, TreatmentReferralView
from schemas.overdose_event import Age
from schemas.referral_views import ReferralView
from schemas.visits import NOTES_MAX, PersonMet, ServiceGiven, VisitMethod


class ClinicalFacts(BaseModel):
    """The overdose as one report saw it; sealed at rest (`events.clinical_sealed`)."""

    model_config = ConfigDict(frozen=True)

    suspected_substances: list[str] = Field(default_factory=list)
    disposition: str | None = None
    naloxone_administered: bool = False
    naloxone_doses: int | None = None
    naloxone_given_by: str | None = None  # e.g. Law Enforcement, Family Member
    destination: str | None = None  # where the patient was taken (it can tell of treatment)
    agency_name: str | None = None  # the reporting agency's own name (NEMSIS eResponse.02)


class AddressView(BaseModel):
    model_config = ConfigDict(frozen=True)

    address: str | None = None
    address2: str | None = None  # apartment, suite, room
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    source: str
    observed_at: datetime


class PersonView(BaseModel):
    model_config = ConfigDict(frozen=True)

    person_id: str
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    dob: date | None = None
    age: Age | None = None  # as the latest report that gave one said, for want of a DOB
    phone: str | None = None  # the number to call and text
    phones: list[str] = Field(default_factory=list)  # every number known, `phone` first
    language: str | None = None
    addresses: list[AddressView] = Field(default_factory=list)


class PlaceView(BaseModel):
    """Where a report's overdose happened (sealed at rest: `events.scene_sealed`); for
    an unhoused survivor the place to try. Only for roles that may see the person."""

    model_config = ConfigDict(frozen=True)

    address: str | None = None
    address2: str | None = None  # apartment, suite, room
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    lat: float | None = None
    lon: float | None = None
    description: str | None = None


class ReportView(BaseModel):
    """One event of the case; `clinical` only for roles that may see clinical facts,
    `place` only for roles that may see the person."""

    model_config = ConfigDict(frozen=True)

    ref: EventRef
    fatal: bool = False
    clinical: ClinicalFacts | None = None
    place: PlaceView | None = None


class ReplyView(BaseModel):
    """A client's answer to a text (sealed at rest); shown to roles that see both the
    person and clinical facts (a reply can tell of use or treatment), each read audited."""

    model_config = ConfigDict(frozen=True)

    id: int
    received_at: datetime
    keyword: str | None = None
    body: str | None = None


class AttemptView(BaseModel):
    """One visit attempt. Law-enforcement members see "contacted" for every contacted_*
    result and neither notes, needs, barriers nor services (cut like clinical facts)."""

    model_config = ConfigDict(frozen=True)

    attempt_no: int
    at: datetime
    team_id: str | None
    result: str  # a VisitResult, or "contacted" (above)
    referral: Referral | None = None
    recorded_by: str
    recorded_at: datetime | None = None
    method: VisitMethod | None = None
    people_met: list[PersonMet] = Field(default_factory=list)
    notes: str | None = None
    needs: list[str] = Field(default_factory=list)
    barriers: list[str] = Field(default_factory=list)
    services: list[ServiceGiven] = Field(default_factory=list)
    contact_id: int | None = None  # made to a contact of the case, not to the client


class CaseDetail(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str
    program_id: str
    version: int
    status: CaseStatus
    tier: ShownTier  # "follow-up" for a role that may not see tiers
    occurred_at: datetime
    window_opens_at: datetime
    window_due_at: datetime
    planned: PlannedVisit | None = None
    at_risk_reason: str | None = None
    missed: bool = False
    callback_requested: bool = False
    phone_invalid: bool = False
    possible_death: bool = False  # a fatal report may be this person: confirm or dismiss
    merged_into: str | None = None  # closed because it was merged into this case
    owner: str | None = None
    assigned_team_id: str | None = None
    assigned_shift_start: datetime | None = None
    outcome: str | None = None
    referral: Referral | None = None
    person_id: str | None = None  # the person's page: /persons/{person_id}
    person: PersonView | None = None
    reports: list[ReportView]
    attempts: list[AttemptView]
    replies: list[ReplyView] = Field(default_factory=list)
    kind: CaseKind = CaseKind.OVERDOSE
    referral_kind: ReferralKind | None = None
    engaged: bool = False  # the client stays in touch; closed only by an outcome
    next_checkin_at: datetime | None = None
    engaged_at: datetime | None = None  # since when (kept once closed)
    checkin_every_days: int | None = None  # the cadence, if one was set
    first_contact_at: datetime | None = None  # only a contacted client can stay engaged
    contacts: list[ContactView] = Field(default_factory=list)  # roles that see identities
    contacts_count: int = 0  # how many contacts (every role)
    contact_needed: bool = False  # a family-support case with no contact: add one
    deceased_person_id: str | None = None  # a family-support case: whose death opened it
    treatment: list[TreatmentReferralView] = Field(default_factory=list)
    referrals: list[ReferralView] = Field(default_factory=list)  # who asked for help


class OwnerChange(BaseModel):
    """Claim (no username: yourself) or assign (a coordinator names the owner)."""

    model_config = ConfigDict(extra="forbid")

    username: str | None = None
    team_id: Annotated[str, Field(max_length=64)] | None = None
    shift_start: datetime | None = None


VocabWord = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class AttemptCreate(BaseModel):
    """One visit attempt as the team records it; `result` has no default on purpose."""

    model_config = ConfigDict(extra="forbid")

    result: VisitResult
    at: datetime | None = Field(default=None, description="when; default now (with an offset)")
    team_id: Annotated[str, Field(max_length=64)] | None = None
    referral: Referral | None = None
    close: bool = Field(default=False, description="also close the case with this result")
    method: VisitMethod | None = Field(default=None, description="how the team tried")
    people_met: Annotated[list[PersonMet], Field(max_length=4)] = Field(default_factory=list)
    notes: Annotated[str, Field(max_length=NOTES_MAX)] | None = Field(
        default=None, description="sealed; shown only to roles that see clinical facts"
    )
    needs: Annotated[list[VocabWord], Field(max_length=20)] = Field(
        default_factory=list, description="words of the program's needs vocabulary"
    )
    barriers: Annotated[list[VocabWord], Field(max_length=20)] = Field(
        default_factory=list, description="words of the program's needs vocabulary"
    )
    services: Annotated[list[ServiceGiven], Field(max_length=7)] = Field(default_factory=list)
    contact_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(
        default=None, description="made to this contact of the case (its id), not the client"
    )


class OutcomeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: VisitResult
    referral: Referral | None = None


class DeathDecision(BaseModel):
    """A coordinator's word on a possible death: `confirm` closes every open case of the
    person as deceased; `dismiss` clears the flag."""

    model_config = ConfigDict(extra="forbid")

    decision: Annotated[str, Field(pattern="^(confirm|dismiss)$")]


class ReviewView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    case_id: str | None
    person_id: str | None
    candidate_person_id: str
    score: float
    evidence: str
    created_at: datetime
    person: PersonView | None = None
    candidate: PersonView | None = None


class ReviewDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Annotated[str, Field(pattern="^(link|keep_apart)$")]

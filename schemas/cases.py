"""Case events (`followup.cases.v1`), visit records and the work-queue read model."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Tier(StrEnum):
    """QRT priority: never contacted first, then not located, then deferred; below them
    the clients who stay engaged, then the families supported after a death (a program
    may move these two: `[program.queue]`)."""

    NEW = "new"
    UNLOCATED = "unlocated"
    DEFERRED = "deferred"
    ENGAGED = "engaged"
    FAMILY_SUPPORT = "family_support"


TIER_RANK: dict[Tier, int] = {
    Tier.NEW: 0,
    Tier.UNLOCATED: 1,
    Tier.DEFERRED: 2,
    Tier.ENGAGED: 3,
    Tier.FAMILY_SUPPORT: 4,
}
# What a role without clinical sight sees instead of a tier (services/accounts/redaction.py)
NEUTRAL_TIER = "follow-up"
ShownTier = Tier | Literal["follow-up"]


class CaseKind(StrEnum):
    """What opened the case: an overdose report, a referral, or a death (the family)."""

    OVERDOSE = "overdose"
    REFERRAL = "referral"
    FAMILY_SUPPORT = "family_support"


class ReferralKind(StrEnum):
    """Who asked for help for the person (a referral's `kind`)."""

    SELF = "self"
    FAMILY = "family"
    FRIEND = "friend"
    WALK_IN = "walk_in"
    PROVIDER = "provider"
    HOSPITAL = "hospital"
    COURT = "court"
    OTHER = "other"


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class VisitResult(StrEnum):
    """What an attempt found; the same words close a case as its outcome."""

    CONTACTED_ACCEPTED_TREATMENT = "contacted_accepted_treatment"
    CONTACTED_DECLINED_FUTURE_INTEREST = "contacted_declined_future_interest"
    CONTACTED_DECLINED = "contacted_declined"
    NOT_LOCATED = "not_located"
    BAD_ADDRESS = "bad_address"
    HOSPITALIZED_OR_IN_CUSTODY = "hospitalized_or_in_custody"
    DECEASED = "deceased"
    OPTED_OUT = "opted_out"

    @property
    def is_contact(self) -> bool:
        return self.value.startswith("contacted_")


MERGED_INTO = "merged_into"  # the outcome of a case merged into another (`merged_into` names it)


def visit_outcome(value: str | None) -> VisitResult | None:
    """A stored outcome as the visit result it is; None when there is none or when the
    case was merged into another (its follow-up goes on in that case)."""
    if value is None or value == MERGED_INTO:
        return None
    return VisitResult(value)


class Referral(StrEnum):
    DETOX = "detox"
    CLINICAL_STABILIZATION = "clinical_stabilization"
    TRANSITIONAL_SUPPORT = "transitional_support"
    MOUD = "moud"
    INTENSIVE_OUTPATIENT = "intensive_outpatient"
    GRIEF_RESOURCES = "grief_resources"


class CaseEventKind(StrEnum):
    OPENED = "opened"
    LINKED = "linked"
    UNLINKED = "unlinked"
    TIER_CHANGED = "tier_changed"
    PLANNED = "planned"
    AT_RISK = "at_risk"
    WINDOW_OPENED = "window_opened"
    ATTEMPT_RECORDED = "attempt_recorded"
    OUTCOME_RECORDED = "outcome_recorded"
    MISSED = "missed"
    CLOSED = "closed"
    ASSIGNED = "assigned"  # claimed, assigned or released: `detail` names the owner
    POSSIBLE_DEATH = "possible_death"  # a fatal report may be this person: to confirm
    MERGED = "merged"  # another open case of the same person was merged into this one
    CALLBACK_HANDLED = "callback_handled"  # a member answered the client's call-back request
    CONTACTS_CHANGED = "contacts_changed"  # a contact of the case added or removed
    ENGAGED = "engaged"  # the client stays in touch: the next check-in set or moved
    ENGAGEMENT_ENDED = "engagement_ended"  # no more check-ins; the case stays open


class EventRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str
    agency_id: str
    event_id: str
    incident_number: str | None = None
    occurred_at: datetime


class PlannedVisit(BaseModel):
    model_config = ConfigDict(frozen=True)

    team_id: str
    shift_start: datetime
    visit_from: datetime
    visit_until: datetime


class CaseEvent(BaseModel):
    """One change to a case, with the case as it stands after it; keyed by program id.

    Carries no personal data: ids, times, tier and plan only. `detail` says what
    changed (e.g. the previous tier, the attempt result, the at-risk reason)."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = 1
    seq: int
    kind: CaseEventKind
    case_id: str
    program_id: str
    at: datetime
    status: CaseStatus = CaseStatus.OPEN
    tier: Tier
    window_opens_at: datetime
    window_due_at: datetime
    person_id: str | None = None
    planned: PlannedVisit | None = None
    at_risk_reason: str | None = None
    missed: bool = False
    possible_death: bool = False
    events: list[EventRef] = Field(default_factory=list)
    detail: dict[str, str | int | float | None] = Field(default_factory=dict)


class QueueItem(BaseModel):
    """One row of a program's work queue (`GET /api/v1/programs/{id}/queue`)."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    program_id: str
    tier: ShownTier  # "follow-up" for a role that may not see tiers
    status: CaseStatus
    occurred_at: datetime
    window_opens_at: datetime
    window_due_at: datetime
    person_id: str | None = None
    planned: PlannedVisit | None = None
    at_risk_reason: str | None = None
    missed: bool = False
    attempts: int = 0
    callback_requested: bool = False  # the client replied to a text: call them back
    phone_invalid: bool = False  # Twilio said the number cannot take texts
    possible_death: bool = False  # a fatal report may be this person: a coordinator confirms
    contact_needed: bool = False  # a family-support case with no contact: add one
    events: list[EventRef]
    version: int = 1  # the case's ETag: send it back in If-Match to change the case
    owner: str | None = None  # the username of the one member who owns the case
    assigned_team_id: str | None = None
    assigned_shift_start: datetime | None = None
    kind: CaseKind = CaseKind.OVERDOSE
    referral_kind: ReferralKind | None = None
    next_checkin_at: datetime | None = None  # an engaged client's next check-in
    # Only when asked (`include=person`, roles that see the person; the read is audited):
    name: str | None = None  # first name and last initial, "Dana E."; the case has the rest
    area: str | None = None  # city and ZIP of the overdose scene, else of the latest residence
    # Only when asked (`include=tier_reason`, roles with clinical sight): why the case has
    # its tier, from the person's latest follow-up, e.g. "not located on 11/20"
    tier_reason: str | None = None


class QueuePage(BaseModel):
    """A page of the queue and how many cases match the filters in all."""

    model_config = ConfigDict(frozen=True)

    total: int
    items: list[QueueItem]


class ShiftPlan(BaseModel):
    """The cases one team should visit on one shift, in visiting order."""

    model_config = ConfigDict(frozen=True)

    team_id: str
    shift_start: datetime
    items: list[QueueItem]

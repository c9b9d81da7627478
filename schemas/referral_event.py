"""`ReferralEvent` v1: someone asks the team to reach a person who has not overdosed (or
not that anyone reported): the person themselves, their family or a friend, a walk-in,
a provider, a hospital, a court. Published on `referral.v1` (`qrt referral create`, the
staff form, `POST /api/v1/programs/{id}/referrals`).

The JSON field names are a published contract: never rename one. Add optional fields
only; anything else is a new version (`ReferralEventV2`, a new topic).

Every field of the person is optional, but a referral must give a way to reach them: a
phone, a street address, or a name with a place (a city, a ZIP or where to find them).
Who referred (name, relation, phone) and the notes are sealed at rest and shown only to
roles that see identities (the notes: and clinical facts).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.cases import ReferralKind
from schemas.overdose_event import Address, Consent, OverdoseEvent, ShortText, Source, _Contract

REFERRAL_SCHEMA_VERSION = 1
NOTES_MAX = 2000
ProgramId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
Phone = Annotated[str, Field(max_length=32)]
UNREACHABLE = (
    "a referral needs a way to reach the person: a phone, a street address, or a name "
    "with a place (a city, a ZIP or where to find them)"
)


class Urgency(StrEnum):
    """How soon the referrer asks the team to come; never later than the kind's window."""

    NOW = "now"
    TODAY = "today"
    THIS_WEEK = "this_week"


class ReferredPerson(_Contract):
    """The person to reach. Each field optional; together they must reach someone."""

    first_name: ShortText | None = None
    last_name: ShortText | None = None
    dob: date | None = None
    sex: ShortText | None = None
    phone: Phone | None = None
    language: Annotated[str, Field(pattern=r"^[a-z]{3}$")] | None = Field(
        default=None, description="ISO 639-2 code, e.g. eng, spa"
    )
    address: Address | None = None
    where: ShortText | None = Field(
        default=None, description="where to find them, in words: 'the shelter on 5th Ave'"
    )

    def reachable(self) -> bool:
        """A phone, a street address, or a name with a place."""
        place = self.address.city or self.address.zip if self.address else None
        named = bool(self.first_name or self.last_name)
        street = bool(self.address and self.address.address)
        return bool(self.phone) or street or (named and bool(place or self.where))


class Referrer(_Contract):
    """Who asked for help for the person; sealed at rest."""

    name: ShortText | None = None
    relation: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="to the person, in words: 'mother', 'case manager'"
    )
    phone: Phone | None = None


class ReferralBody(_Contract):
    """What a referral says, as a member or a partner posts it
    (`POST /api/v1/programs/{id}/referrals`); the program comes from the path, the
    agency from the partner's key."""

    referral_id: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        default=None,
        description="unique per sender; send one so that a retry is a duplicate "
        "(default: a new id)",
    )
    kind: ReferralKind
    referred_at: datetime | None = Field(
        default=None, description="ISO-8601 with a UTC offset; default: when received"
    )
    person: ReferredPerson = Field(default_factory=ReferredPerson, validate_default=True)
    referrer: Referrer | None = None
    consent: Consent = Field(
        default_factory=Consent,
        description="the person's own consent; a family member or friend cannot give a "
        "yes to texts for them",
    )
    urgency: Urgency | None = None
    notes: Annotated[str, Field(max_length=NOTES_MAX)] | None = Field(
        default=None, description="sealed; shown only to roles that see identities and "
        "clinical facts",
    )  # fmt: skip

    @field_validator("referred_at", mode="before")
    @classmethod
    def _text_required(cls, value: object) -> object:
        if isinstance(value, int | float):  # pydantic would read a number as Unix time
            raise ValueError(
                "referred_at is a number; send ISO-8601 text with a UTC offset, "
                "e.g. 2026-11-21T23:40:00-05:00"
            )
        return value

    @field_validator("referred_at")
    @classmethod
    def _offset_required(cls, value: datetime | None) -> datetime | None:
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError(
                "referred_at has no UTC offset; send ISO-8601 with an offset, "
                "e.g. 2026-11-21T23:40:00-05:00"
            )
        return value

    @field_validator("person")
    @classmethod
    def _reachable(cls, value: ReferredPerson) -> ReferredPerson:
        if not value.reachable():
            raise ValueError(UNREACHABLE)
        return value


class ReferralEvent(ReferralBody):
    """One referral as it travels on `referral.v1` (schema version 1)."""

    referral_id: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        description="Unique per sender (agency or program); a repeat is a duplicate."
    )
    source: Literal[Source.REFERRAL] = Source.REFERRAL
    program_id: ProgramId | None = Field(
        default=None, description="the program asked; else routed by the agency or county"
    )
    agency_id: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        default="",
        description="who sends it: a partner agency listed by the program, or (the "
        "default) the program itself, for its own staff",
    )
    referred_at: datetime = Field(description="ISO-8601 with a UTC offset")

    @model_validator(mode="before")
    @classmethod
    def _sender(cls, data: Any) -> Any:
        """The program's own id stands for its staff when no agency sends it."""
        if isinstance(data, dict) and not data.get("agency_id") and data.get("program_id"):
            return {**data, "agency_id": data["program_id"]}
        return data

    @model_validator(mode="after")
    def _routed(self) -> Self:
        if not self.agency_id:
            raise ValueError(
                "name the program (program_id) or the partner agency (agency_id) it is for"
            )
        return self

    @property
    def event_id(self) -> str:
        """The id the store and the gateway key it by, as they key an overdose report."""
        return self.referral_id


class ReferralAccepted(BaseModel):
    """The answer to a referral the broker has: its id, and whether it was a repeat."""

    model_config = ConfigDict(frozen=True)

    referral_id: str
    duplicate: bool = False


# what the ingest gateway accepts, keeps in its inbox and publishes
IngestEvent = OverdoseEvent | ReferralEvent

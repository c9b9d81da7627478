"""Referrals to treatment that is confirmed: the program's providers (`[[program.provider]]`),
what staff and a provider send, and the least a provider is shown of a referral made to
it (the referral, its state and dates, the client's first name and date of birth to
recognise them; nothing else)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from schemas.engagement_views import TreatmentState

PROVIDER_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class ProviderKind(StrEnum):
    """What a provider offers: the kind a referral to it takes."""

    DETOX = "detox"
    MOUD = "moud"
    OUTPATIENT = "outpatient"
    RESIDENTIAL = "residential"
    RECOVERY_HOUSING = "recovery_housing"


class Provider(BaseModel):
    """One entry of `[[program.provider]]`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(pattern=PROVIDER_ID)]
    name: Annotated[str, Field(min_length=1, max_length=120)]
    kind: ProviderKind


def _unique_ids(providers: list[Provider]) -> list[Provider]:
    ids = [p.id for p in providers]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ValueError(f"provider ids appear twice: {', '.join(twice)}")
    return providers


# `[[program.provider]]`: the providers a program refers clients to
ProviderList = Annotated[list[Provider], AfterValidator(_unique_ids)]


def provider_in(providers: list[Provider], provider_id: str) -> Provider | None:
    return next((p for p in providers if p.id == provider_id), None)


class TreatmentReferralCreate(BaseModel):
    """A referral of the case's client to one of the program's providers; its kind is the
    provider's."""

    model_config = ConfigDict(extra="forbid")

    provider_id: Annotated[str, Field(min_length=1, max_length=64)]


class TreatmentStatusChange(BaseModel):
    """A move of a referral to its next state, with the day it happened (default now)."""

    model_config = ConfigDict(extra="forbid")

    state: TreatmentState
    at: AwareDatetime | None = Field(
        default=None, description="when it happened, with a UTC offset; default now"
    )


class ProviderReferral(BaseModel):
    """What a provider sees of a referral made to it: the minimum necessary."""

    model_config = ConfigDict(frozen=True)

    id: str
    state: TreatmentState
    referred_at: datetime
    entered_at: datetime | None = None
    retained_30d_at: datetime | None = None
    retained_90d_at: datetime | None = None
    ended_at: datetime | None = None
    first_name: str | None = None
    dob: date | None = None


class ProviderReferralPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    total: int
    items: list[ProviderReferral]

"""`OverdoseEvent` v1: the public contract EMS and police integrations publish.

The JSON field names are a published contract: never rename one. Add optional
fields only; anything else is a new version (`OverdoseEventV2`, new topics).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1
# C0 and C1 control characters (NUL, escape, ...): no field of a report holds one, and
# PostgreSQL text cannot hold a NUL at all
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

ShortText = Annotated[str, Field(max_length=200)]
PhoneText = Annotated[str, Field(max_length=32)]
MAX_PHONES = 10


class Source(StrEnum):
    EMS = "ems"
    POLICE = "police"
    # a referral (schemas/referral_event.py) as the intake worker hands it on; an overdose
    # publisher sending it is refused (services/ingest/screening.py)
    REFERRAL = "referral"


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: object) -> object:
        texts = value if isinstance(value, list) else [value]
        for text in texts:
            if isinstance(text, str) and (found := CONTROL.search(text)):
                raise ValueError(
                    f"holds a control character (U+{ord(found.group()):04X}); "
                    "send plain text without NUL, escape or other control characters"
                )
        return value


class Address(_Contract):
    address: ShortText | None = None
    address2: ShortText | None = Field(
        default=None, description="the address's second line: apartment, suite, room, unit"
    )
    city: ShortText | None = None
    state: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")] | None = None
    zip: Annotated[str, Field(pattern=r"^\d{5}(-\d{4})?$")] | None = None
    county_fips: Annotated[str, Field(pattern=r"^\d{5}$")] | None = None


class Location(Address):
    description: ShortText | None = Field(
        default=None, description="the scene in words, e.g. 'behind the library'"
    )
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None


class AgeUnit(StrEnum):
    YEARS = "years"
    MONTHS = "months"
    DAYS = "days"
    HOURS = "hours"
    MINUTES = "minutes"


class Age(_Contract):
    """The age the report gives (NEMSIS ePatient.15/.16), useful when no DOB is known."""

    value: Annotated[int, Field(ge=0, le=150)]
    unit: AgeUnit | None = Field(default=None, description="None: the report gave no unit")
    approximate: bool = False


class Patient(_Contract):
    first_name: ShortText | None = None
    middle_name: ShortText | None = None
    last_name: ShortText | None = None
    dob: date | None = None
    age: Age | None = None
    sex: ShortText | None = Field(
        default=None,
        description="words, e.g. female, male, unknown (NEMSIS ePatient.25, else .13)",
    )
    phone: PhoneText | None = Field(
        default=None, description="the number to call and text: the first of `phones`"
    )
    phones: Annotated[list[PhoneText], Field(max_length=MAX_PHONES)] | None = Field(
        default=None,
        description="every number the report gives, in its order; the first is `phone`",
    )
    language: Annotated[str, Field(pattern=r"^[a-z]{3}$")] | None = Field(
        default=None, description="ISO 639-2 code, e.g. eng, spa"
    )
    address: Address | None = None

    @model_validator(mode="before")
    @classmethod
    def _first_phone_is_phone(cls, data: object) -> object:
        """`phone` is `phones[0]`: filled from `phones`, or put first in it."""
        if not isinstance(data, dict) or not isinstance(data.get("phones"), list):
            return data
        phones, phone = data["phones"], data.get("phone")
        if not all(isinstance(p, str) for p in [*phones, phone or ""]):
            return data  # the field validation names what is wrong
        phones = list(dict.fromkeys(p.strip() for p in [phone or "", *phones] if p.strip()))
        return {**data, "phone": phones[0] if phones else None, "phones": phones or None}


class Naloxone(_Contract):
    administered: bool = False
    doses: Annotated[int, Field(ge=0, le=50)] | None = None
    given_by: ShortText | None = Field(
        default=None, description="who gave it, e.g. Paramedic, Law Enforcement, Family Member"
    )


class Destination(Address):
    """Where the patient was taken (NEMSIS eDisposition.01-.07)."""

    name: ShortText | None = None


class Consent(_Contract):
    visit: bool | None = None
    sms: bool | None = None


class OverdoseEvent(_Contract):
    """One overdose as reported by one EMS agency or police department."""

    event_id: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        description="Unique per publisher (agency); a repeat is a duplicate."
    )
    source: Source
    agency_id: Annotated[str, Field(min_length=1, max_length=64)]
    agency_name: ShortText | None = Field(default=None, description="e.g. NEMSIS eResponse.02")
    incident_number: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    occurred_at: datetime = Field(description="ISO-8601 with a UTC offset; naive times are refused")
    location: Location = Field(default_factory=Location)
    patient: Patient | None = None
    fatal: bool = False
    naloxone: Naloxone = Field(default_factory=Naloxone)
    suspected_substances: Annotated[list[ShortText], Field(max_length=50)] = Field(
        default_factory=list, description="ICD-10-CM codes or plain words"
    )
    disposition: ShortText | None = None
    destination: Destination | None = None
    consent: Consent = Field(default_factory=Consent)

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _text_required(cls, value: object) -> object:
        if isinstance(value, int | float):  # pydantic would read a number as Unix time
            raise ValueError(
                "occurred_at is a number; send ISO-8601 text with a UTC offset, "
                "e.g. 2026-11-21T23:40:00-05:00"
            )
        return value

    @field_validator("occurred_at")
    @classmethod
    def _offset_required(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                "occurred_at has no UTC offset; send ISO-8601 with an offset, "
                "e.g. 2026-11-21T23:40:00-05:00"
            )
        return value

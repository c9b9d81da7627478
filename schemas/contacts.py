"""What the API takes to add a contact to a case (`POST /api/v1/cases/{id}/contacts`)
and answers when one is removed. A contact is a family member, friend or partner the
team may reach; their name and phone are sealed at rest, and texts go to them only
with their own consent (`sms_consent`), never with the client's."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.engagement_views import ContactRelation


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=100)]
    relation: ContactRelation
    phone: Annotated[str, Field(max_length=32)] | None = Field(
        default=None, description="a US number or +E.164; needed for texts"
    )
    sms_consent: bool = Field(
        default=False, description="the contact's own consent to texts (needs a phone)"
    )


class ContactChange(BaseModel):
    """The answer to adding or removing a contact: which, and the case's new version."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    contact_id: int
    version: int
    removed: bool = False

"""Accounts of the work-queue API and pages: roles, users, tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

ALL_PROGRAMS = "*"


class Role(StrEnum):
    """What a member of a program may do there (services/accounts/roles.py)."""

    COORDINATOR = "coordinator"
    OUTREACH = "outreach"  # peer recovery coach, clinician, EMS practitioner
    LAW_ENFORCEMENT = "law_enforcement"  # never sees clinical fields
    PROGRAM_MANAGER = "program_manager"  # outcomes, not identities
    ADMIN = "admin"


class Membership(BaseModel):
    model_config = ConfigDict(frozen=True)

    program_id: str = Field(description='a program id, or "*" for every program')
    role: Role


class UserRead(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    username: str
    memberships: list[Membership]
    disabled: bool = False


class TokenIssued(BaseModel):
    """A bearer token, shown once: only its SHA-256 is kept."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type)
    expires_at: datetime

"""Staying engaged: setting a contacted client's next check-in or cadence
(`PUT /api/v1/cases/{id}/engagement`), and what the answer says."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

EVERY_DAYS_MAX = 365


class EngagementSet(BaseModel):
    """The next check-in, or a cadence, or both (the first check-in on the date, then
    `every_days` after each contact)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    next_checkin_at: AwareDatetime | None = Field(
        default=None, description="when the team checks in next (with a UTC offset)"
    )
    every_days: Annotated[int, Field(ge=1, le=EVERY_DAYS_MAX)] | None = Field(
        default=None,
        description="a check-in every N days: N days from now, then after each contact",
    )

    @model_validator(mode="after")
    def _one_at_least(self) -> Self:
        if self.next_checkin_at is None and self.every_days is None:
            raise ValueError("give next_checkin_at, every_days or both")
        return self


class EngagementView(BaseModel):
    """The case's engagement after the change, and its new version (its ETag)."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    engaged: bool
    next_checkin_at: datetime | None = None
    every_days: int | None = None
    version: int

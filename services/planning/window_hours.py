"""A visit window as a program sets it: hours after the event when a visit may start and
when it is due (`[program.visit_window]`; referral kinds refine it,
services/cases/referral_windows.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class VisitWindow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    opens_after_hours: Annotated[float, Field(ge=0)] = 12
    due_after_hours: Annotated[float, Field(gt=0)] = 72

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.due_after_hours <= self.opens_after_hours:
            raise ValueError("due_after_hours must be later than opens_after_hours")
        return self

    @property
    def opens_after(self) -> timedelta:
        return timedelta(hours=self.opens_after_hours)

    @property
    def due_after(self) -> timedelta:
        return timedelta(hours=self.due_after_hours)

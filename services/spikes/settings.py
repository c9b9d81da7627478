"""`[program.spikes]`: when a cluster of overdoses in one area is a spike, and who is
told. Pure: validated settings, no I/O.

The plain thresholds: `zip_threshold` overdoses in one ZIP within `zip_window_hours`
(default 3 in 6 h), `county_threshold` in one county within `county_window_hours`
(default 5 in 24 h), and, when set, `grid_threshold` in one cell of about 1 km within
`grid_window_hours`. `on_call` lists the staff numbers texted when an alert is raised:
each with the date its holder opted in (a number without one is refused: staff get
alert texts only once they asked for them). Alert texts go at any hour unless
`quiet_hours` is true (then 08:00-21:00 in the program's time zone). `boundary_file`:
a GeoJSON file of the program's area, drawn under the points of an alert's map."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.spikes.areas import AreaKind
from services.spikes.thresholds import Threshold

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
Hours = Annotated[float, Field(gt=0, le=24 * 14)]
Count = Annotated[int, Field(ge=2, le=1000)]


class OnCall(BaseModel):
    """One on-call staff number: a staff member's own phone, never a client's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    phone: str
    opted_in: date = Field(description="the day its holder asked for alert texts")
    label: Annotated[str, Field(max_length=64)] = ""

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str) -> str:
        if not _E164.match(value):
            raise ValueError("an on-call phone is in E.164 form, e.g. +15555550100")
        return value


class SpikeSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    zip_threshold: Count = 3
    zip_window_hours: Hours = 6
    county_threshold: Count = 5
    county_window_hours: Hours = 24
    grid_threshold: Count | None = None  # cells are counted; alerted on only when set
    grid_window_hours: Hours = 6
    on_call: Annotated[list[OnCall], Field(max_length=20)] = Field(default_factory=list)
    quiet_hours: bool = False  # alert texts wait for 08:00-21:00 only when true
    # the program's area as GeoJSON, drawn under the alert page's points; a relative
    # path is read from the programs file's directory
    boundary_file: Annotated[str, Field(max_length=500)] | None = None

    @field_validator("on_call")
    @classmethod
    def _distinct(cls, value: list[OnCall]) -> list[OnCall]:
        phones = [entry.phone for entry in value]
        if len(set(phones)) != len(phones):
            raise ValueError("an on-call number is listed twice")
        return value

    def rules(self) -> dict[AreaKind, Threshold]:
        """The plain threshold of each kind of area that is alerted on."""
        found = {
            AreaKind.ZIP: Threshold(self.zip_threshold, timedelta(hours=self.zip_window_hours)),
            AreaKind.COUNTY: Threshold(
                self.county_threshold, timedelta(hours=self.county_window_hours)
            ),
        }
        if self.grid_threshold is not None:
            found[AreaKind.GRID] = Threshold(
                self.grid_threshold, timedelta(hours=self.grid_window_hours)
            )
        return found

    @property
    def longest_window(self) -> timedelta:
        return max(rule.window for rule in self.rules().values())


def rule_name(rule: Threshold) -> str:
    """How an alert names its rule, e.g. `threshold 3 in 6 h`."""
    hours = rule.window.total_seconds() / 3600
    return f"threshold {rule.count} in {hours:g} h"

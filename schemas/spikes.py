"""What lands on `overdose.spikes.v1` (keyed by program id), and what the API gives for
an alert: a program, an area, a window, counts and a rule. Never a person."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class AlertChange(StrEnum):
    RAISED = "raised"
    UPDATED = "updated"
    ENDED = "ended"


class SpikeAlert(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: int = 1
    alert_id: str
    program_id: str
    change: AlertChange = Field(description="what this record says happened to the alert")
    area_kind: Annotated[str, Field(description="zip, county or grid (a cell of about 1 km)")]
    area: str = Field(description="the ZIP, the county FIPS code or the grid cell's name")
    method: str = Field(description="threshold: N overdoses in one area within H hours")
    rule: str = Field(description="the method's settings, e.g. `threshold 3 in 6 h`")
    threshold: int
    window_hours: float
    count: int = Field(description="overdoses from the spike's first until now (one an incident)")
    fatal: int = Field(description="of which fatal")
    expected: float = Field(
        description="the area's usual count in one window: its 8 weeks before the spike"
    )
    first_event_at: datetime
    started_at: datetime = Field(description="the overdose that reached the threshold")
    last_event_at: datetime
    raised_at: datetime = Field(description="when the alert was raised (the worker's clock)")
    updated_at: datetime
    ended_at: datetime | None = Field(
        default=None, description="when the window last held fewer than the threshold"
    )
    revision: int = Field(description="1 when raised, one more for each update")

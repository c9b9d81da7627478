"""QRT programs: loaded from a TOML file, validated, looked up by id."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas.treatment import ProviderList
from schemas.visits import DEFAULT_NEEDS
from services.cases.engagement_rules import EngagedSettings, QueueSettings
from services.cases.family_settings import FamilySupportSettings
from services.cases.referral_windows import ReferralWindows
from services.cases.tiering import OtherHistoryTiers
from services.ingest.overdose_class import OverdoseClass
from services.planning.shifts import TeamList
from services.planning.window_hours import VisitWindow
from services.retention.settings import RetentionSettings
from services.sms.cadence import TextSettings
from services.spikes.settings import SpikeSettings


class ProgramsFileError(Exception):
    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"programs file {path}: {problem}")


class Matching(BaseModel):
    """Person matching inside a program (see services/identity/matching.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    auto_link: Annotated[float, Field(gt=0, le=1)] | None = None
    review: Annotated[float, Field(gt=0, le=1)] | None = None
    incident_merge_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 90


class Ingest(BaseModel):
    """`[program.ingest]`: which NEMSIS reports the program follows up."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    follow_up: OverdoseClass = OverdoseClass.SUSPECTED_OVERDOSE
    suspected_icd10_prefixes: list[str] | None = None

    @field_validator("follow_up")
    @classmethod
    def _an_overdose(cls, value: OverdoseClass) -> OverdoseClass:
        if value is OverdoseClass.NOT_OVERDOSE:
            raise ValueError("follow_up is opioid_overdose or suspected_overdose")
        return value


class Visits(BaseModel):
    """`[program.visits]`: the words a visit record may use for needs and barriers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    needs: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]] = Field(
        default_factory=lambda: list(DEFAULT_NEEDS), min_length=1, max_length=40
    )


class Program(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
    name: str
    timezone: str = "America/New_York"
    county_fips: list[Annotated[str, Field(pattern=r"^\d{5}$")]] = Field(default_factory=list)
    agency_ids: list[str] = Field(default_factory=list)
    visit_window: VisitWindow = Field(default_factory=VisitWindow)
    at_risk_before_due_hours: Annotated[float, Field(ge=0)] = 12
    # a report of an overdose longer ago than this is kept for history and reports, but
    # opens no case and sends no text
    max_event_age_days: Annotated[float, Field(gt=0, le=3650)] = 30
    teams: TeamList = Field(default_factory=list, alias="team")
    matching: Matching = Field(default_factory=Matching)
    tiers: OtherHistoryTiers = Field(default_factory=OtherHistoryTiers)
    sms: TextSettings = Field(default_factory=TextSettings)
    ingest: Ingest = Field(default_factory=Ingest)
    visits: Visits = Field(default_factory=Visits)
    referrals: ReferralWindows = Field(default_factory=ReferralWindows)  # per kind
    queue: QueueSettings = Field(default_factory=QueueSettings)  # [program.queue]
    engaged: EngagedSettings = Field(default_factory=EngagedSettings)  # check-ins
    family_support: FamilySupportSettings = Field(default_factory=FamilySupportSettings)
    providers: ProviderList = Field(default_factory=list, alias="provider")
    retention: RetentionSettings = Field(default_factory=RetentionSettings)  # the purge
    spikes: SpikeSettings = Field(default_factory=SpikeSettings)  # spike alerts

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def at_risk_before_due(self) -> timedelta:
        return timedelta(hours=self.at_risk_before_due_hours)

    @property
    def max_event_age(self) -> timedelta:
        return timedelta(days=self.max_event_age_days)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class Programs(BaseModel):
    model_config = ConfigDict(frozen=True)

    programs: list[Program]

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        ids = [p.id for p in self.programs]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"program ids appear twice: {', '.join(dupes)}")
        return self

    def get(self, program_id: str) -> Program | None:
        return next((p for p in self.programs if p.id == program_id), None)

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.programs]


def bundled_example_text() -> str:
    return resources.files("services").joinpath("example_programs.toml").read_text()


def parse_programs(text: str, origin: Path | str = "<text>") -> Programs:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProgramsFileError(origin, f"not valid TOML: {exc}") from exc
    entries = raw.get("program", [])
    if not entries:
        raise ProgramsFileError(origin, "no [[program]] entries")
    try:
        return Programs(programs=entries)
    except ValidationError as exc:
        raise ProgramsFileError(origin, str(exc)) from exc


def load_programs(path: Path | None) -> Programs:
    if path is None:
        return parse_programs(bundled_example_text(), "bundled example")
    try:
        text = path.read_text()
    except OSError as exc:
        raise ProgramsFileError(path, f"cannot be read ({exc.strerror})") from exc
    return parse_programs(text, path)

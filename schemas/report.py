"""What a program reports for a period: the shape of `GET /api/v1/programs/{id}/report`,
`qrt report` and the report page. The measures are defined in `DEFINITIONS` (the page
states them); no figure names or points to a person.

Counts are `Cell`s: an int, or in a shareable report (`share=true`) `"<11"` for a
count from 1 to 10 (the small-cell rule of CMS and CDC data releases) and `">10"` for a
count above 10 hidden so that no `"<11"` can be worked out from the figures shown
(complementary suppression: services/reporting/suppression.py). A share or quantile
that would reveal a hidden count is `None` in a shareable report.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SUPPRESSED: Literal["<11"] = "<11"  # a count from 1 to 10
WITHHELD: Literal[">10"] = ">10"  # a count above 10, hidden so that no "<11" can be worked out
Cell = int | Literal["<11", ">10"]


class ReportBy(StrEnum):
    MONTH = "month"
    WEEK = "week"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class NamedCount(Frozen):
    """One row of a breakdown: a source, an agency, a kind, an outcome, a need..."""

    name: str
    count: Cell


def named(rows: Iterable[tuple[str, int]]) -> list[NamedCount]:
    return [NamedCount(name=name, count=count) for name, count in rows]


class Quantiles(Frozen):
    """Hours from the overdose's time; `n` cases measured (None when none or suppressed)."""

    n: Cell
    median_hours: float | None = None
    p90_hours: float | None = None


class OverdoseFigures(Frozen):
    total: Cell  # distinct incidents whose time falls in the period
    non_fatal: Cell
    fatal: Cell
    by_source: list[NamedCount]
    by_agency: list[NamedCount]
    distinct_persons: Cell
    persons_new: Cell
    persons_known: Cell


class FunnelStep(Frozen):
    step: Literal[
        "events",
        "persons",
        "cases",
        "attempted",
        "contacted",
        "referred",
        "entered",
        "retained_30d",
        "retained_90d",
    ]
    count: Cell


class CaseFigures(Frozen):
    # overdose, referral:<kind> (one `referral` row without clinical measures), family_support
    opened_by_kind: list[NamedCount]
    funnel: list[FunnelStep]  # steps past "contacted" only with clinical measures
    attempted: Cell
    contacted: Cell
    contacted_within_72h_share: float | None  # of non-fatal overdose cases (0..1)
    contacted_within_window_share: float | None  # within the program's visit window
    to_first_attempt: Quantiles
    to_first_contact: Quantiles


class ClinicalFigures(Frozen):
    """Only for roles with `view_clinical` (never law enforcement)."""

    outcomes: list[NamedCount]
    referrals_by_type: list[NamedCount]  # the six services of a visit's referral
    treatment_by_kind: list[NamedCount]  # treatment referrals by provider kind
    referred: Cell
    entered: Cell
    retained_30d: Cell
    retained_90d: Cell
    naloxone_kits: Cell  # visits that left a naloxone kit
    services_left: list[NamedCount]
    needs_top: list[NamedCount]
    barriers_top: list[NamedCount]


class RepeatFigures(Frozen):
    persons_two_or_more: Cell  # persons with two or more overdoses in the period
    within_30d_after_contact: Cell  # overdoses within 30 days after a contact
    within_90d_after_contact: Cell


class TextFigures(Frozen):
    sent: Cell
    delivered: Cell
    failed: Cell
    opted_out: Cell  # opt-outs recorded in the period (records, not distinct phones)


class RejectionRow(Frozen):
    agency_id: str
    reason: str
    count: Cell


class SeriesPoint(Frozen):
    """One month or week (its first day, in the program's time zone)."""

    start: date
    overdoses: Cell
    non_fatal: Cell
    fatal: Cell
    first_contacts: Cell  # cases whose first contact fell in this month or week


class HistogramBin(Frozen):
    """Cases whose first contact came `from_hours` <= h < `to_hours` after the overdose
    (`to_hours` None: the last, open bin)."""

    from_hours: int
    to_hours: int | None
    count: Cell


class TeamContactTimes(Frozen):
    team_id: str  # the team of the first contact; "(none)" when not recorded
    contacted: Cell
    to_first_contact: Quantiles


class SpikeFigures(Frozen):
    """Spike alerts raised in the period (services/spikes): how many, of which areas,
    per month or week, their size (overdoses in the alert) and how fast the first alert
    went out (from the overdose that reached the threshold to the alert)."""

    alerts: Cell
    by_area_kind: list[NamedCount]
    by_period: list[NamedCount]  # name: the month's first day or the week's Monday
    largest: Cell | None = None
    median_size: float | None = None
    median_minutes_to_alert: float | None = None
    max_minutes_to_alert: float | None = None


class ProgramReport(Frozen):
    program_id: str
    period_from: date  # first day, inclusive, in the program's time zone
    period_to: date  # last day, inclusive
    by: ReportBy
    zone: str
    generated_at: datetime
    share: bool
    clinical: bool  # whether clinical measures are included
    definitions: dict[str, str]
    overdoses: OverdoseFigures
    cases: CaseFigures
    clinical_figures: ClinicalFigures | None
    repeats: RepeatFigures
    texts: TextFigures
    rejections: list[RejectionRow]
    series: list[SeriesPoint]
    contact_time_distribution: list[HistogramBin]
    by_team: list[TeamContactTimes]
    spikes: SpikeFigures = Field(
        default_factory=lambda: SpikeFigures(alerts=0, by_area_kind=[], by_period=[])
    )


DEFINITIONS: dict[str, str] = {
    "overdoses reported": (
        "Distinct overdose incidents whose time falls in the period: an EMS and a police "
        "report of one incident (put in one case, the second no more than the program's "
        "incident-merge minutes after the first) count once, in the period of the first. "
        "Fatal and non-fatal separately. By source and agency: the reports each sent."
    ),
    "persons new / known": (
        "Persons named by the period's overdose reports; known when the program has an "
        "earlier overdose report or case of theirs, before their first report of the "
        "period; new otherwise."
    ),
    "cases": (
        "Cases whose overdose (or referral, or death for a family's case) falls in the "
        "period, whenever their follow-up came; a case merged into another counts once. "
        "The funnel and the contact times follow the overdose cases."
    ),
    "attempted / contacted": (
        "Cases with at least one attempt / with a contacted result. Contacted within 72 h: "
        "first contact no later than 72 h after the overdose's time, as a share of "
        "non-fatal overdose cases; within the window: no later than the case's visit "
        "window was due."
    ),
    "time to first attempt / contact": (
        "Hours from the overdose's time; the median and the 90th percentile (linear "
        "between the nearest values). By team: the team that made the first contact."
    ),
    "referred / entered treatment / retained": (
        "A treatment referral made; the provider or staff confirmed entry; still in "
        "treatment at 30 and 90 days. Cases, of every kind; the funnel's of overdose cases."
    ),
    "outcomes, referrals and services": (
        "Cases by outcome (open: none yet); visits that referred to each service; "
        "treatment referrals by the provider's kind; visits that left a naloxone kit or "
        "another service; the needs and barriers visits recorded most often."
    ),
    "repeat overdoses": (
        "Persons with two or more overdoses in the period; and overdoses within 30 / 90 "
        "days after the team contacted the same person."
    ),
    "texts": (
        "Texts handed to the sender in the period, of them delivered; texts that failed "
        "in the period; opt-outs recorded in the period (STOP, the carrier, staff)."
    ),
    "rejected feed records": (
        "Records an agency sent in the period that could not be used, by agency and reason."
    ),
    "spike alerts": (
        "Alerts raised in the period: one area (ZIP, county or a cell of about 1 km) "
        "reached the program's threshold (N overdoses within H hours). Size: the overdoses "
        "an alert counted by its end (or now); time to alert: from the overdose that "
        "reached the threshold to the alert, as the spike worker's clock saw it."
    ),
    "shareable figures": (
        "Counts from 1 to 10 are shown as <11 (the small-cell rule of CMS and CDC data "
        "releases), with any share that would reveal them. Where figures add up to "
        "another (fatal and non-fatal to the overdoses, the months or weeks, the bins and "
        "teams to the cases contacted, sources, agencies, kinds and outcomes), more counts "
        "are hidden, as >10 (or the total), so that no <11 can be worked out from the rest."
    ),
}
# What only a report with clinical measures defines (law enforcement gets neither)
CLINICAL_DEFINITIONS = frozenset(
    {"referred / entered treatment / retained", "outcomes, referrals and services"}
)


def definitions_for(clinical: bool) -> dict[str, str]:
    """The definitions a report states: without clinical measures, none of theirs."""
    return {k: v for k, v in DEFINITIONS.items() if clinical or k not in CLINICAL_DEFINITIONS}

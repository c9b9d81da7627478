"""The cases of the period: opened by kind, and the follow-up of the overdose cases (the
funnel, contact within 72 h and within the window, hours to the first attempt and the
first contact, their distribution and each team's, first contacts per month or week).

Times come from `cases.first_attempt_at` / `first_contact_at` (the earliest attempt, the
earliest with a `contacted_*` result, to the client or a contact of theirs) and are
measured from the case's `occurred_at` (the overdose's time). The team of a first
contact is the team of the attempt that made it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, select

from schemas.cases import CaseKind
from schemas.report import (
    CaseFigures,
    FunnelStep,
    HistogramBin,
    Quantiles,
    TeamContactTimes,
    named,
)
from services.reporting import suppression
from services.reporting.clinical_figures import Treatment
from services.reporting.overdose_figures import Overdoses
from services.reporting.scope import Scope
from services.reporting.spread import Spread
from services.reporting.sql_parts import (
    bucket_of,
    hours_between,
    in_range,
    quantiles_by,
    quantiles_of,
)
from services.store.tables import attempts, cases

CONTACT_HOURS = 72
OPEN, CLOSED = "open", "closed"  # a case without an outcome
REFERRAL = CaseKind.REFERRAL.value  # every referral kind in one, without clinical measures
BINS: tuple[tuple[int, int | None], ...] = (
    (0, 12), (12, 24), (24, 48), (48, 72), (72, 168), (168, None),
)  # fmt: skip


@dataclass(frozen=True)
class FollowUp:
    cases: int
    attempted: int
    contacted: int
    within_72h: int
    within_window: int
    bins: list[int]
    opened: list[tuple[str, int]]  # cases of every kind: opened by kind
    outcomes: dict[str, int]  # ... and by outcome ("open", "closed" when none)


def follow_up(scope: Scope) -> FollowUp:
    """One grouped pass over the period's cases: by kind and outcome, and the follow-up
    of the overdose cases (sums, kept for the groups of overdose cases only). A referral
    case's kind (self, family, provider, hospital, court) is cut like clinical facts
    (services/accounts/redaction.py): without clinical measures one `referral` row."""
    h = _to_contact(scope)
    within = [h <= CONTACT_HOURS, cases.c.first_contact_at <= cases.c.window_due_at]
    within += [_in_bin(h, low, high) for low, high in BINS]
    groups = (cases.c.kind, cases.c.referral_kind, cases.c.status, cases.c.outcome)
    rows = scope.conn.execute(
        select(
            *groups,
            func.count(),
            func.count(cases.c.first_attempt_at),
            func.count(cases.c.first_contact_at),
            *(func.sum(case((condition, 1), else_=0)) for condition in within),
        )
        .where(scope.cohort())
        .group_by(*groups)
    ).all()
    sums = [0] * (3 + len(within))
    opened: dict[str, int] = {
        k.value: 0 for k in CaseKind if k is not CaseKind.REFERRAL or not scope.clinical
    }
    outcomes: dict[str, int] = {}
    for kind, referral_kind, status, outcome, *counts in rows:
        name = _kind_name(kind, referral_kind, scope.clinical)
        opened[name] = opened.get(name, 0) + int(counts[0])
        ended = outcome or (OPEN if status == OPEN else CLOSED)
        outcomes[ended] = outcomes.get(ended, 0) + int(counts[0])
        if kind == CaseKind.OVERDOSE:
            sums = [a + int(b or 0) for a, b in zip(sums, counts, strict=True)]
    rank = {CaseKind.OVERDOSE.value: 0, CaseKind.FAMILY_SUPPORT.value: 2}
    kinds = sorted(opened.items(), key=lambda r: (rank.get(r[0], 1), r[0]))
    n_cases, attempted, contacted, within_72h, within_window = sums[:5]
    return FollowUp(
        n_cases, attempted, contacted, within_72h, within_window, sums[5:], kinds, outcomes
    )


def _kind_name(kind: str, referral_kind: str | None, clinical: bool) -> str:
    if kind != REFERRAL:
        return kind
    return f"referral:{referral_kind or 'other'}" if clinical else REFERRAL


@dataclass(frozen=True)
class CaseData:
    """What the case figures are made of, read in one go."""

    done: FollowUp
    spreads: dict[str, Spread]  # hours to the first "attempt" and "contact"
    teams: dict[str, Spread]  # hours to the first contact, by its team
    first_contacts: dict[int, int]  # per bucket


def case_data(scope: Scope) -> CaseData:
    attempt_h = hours_between(scope.dialect, cases.c.first_attempt_at, cases.c.occurred_at)
    values = (
        select(attempt_h.label("attempt"), _to_contact(scope).label("contact"))
        .where(scope.cohort(overdose_only=True))
        .subquery()
    )
    return CaseData(
        follow_up(scope),
        quantiles_of(scope.conn, values),
        quantiles_by(scope.conn, _first_contact_times(scope)),
        first_contacts_per_bucket(scope),
    )


def case_figures(
    scope: Scope, found: Overdoses, data: CaseData, treatment: Treatment
) -> CaseFigures:
    done, spreads = data.done, data.spreads
    return CaseFigures(
        opened_by_kind=named(done.opened),
        funnel=funnel(scope, found, done, treatment),
        attempted=done.attempted,
        contacted=done.contacted,
        contacted_within_72h_share=suppression.share_of(done.within_72h, done.cases),
        contacted_within_window_share=suppression.share_of(done.within_window, done.cases),
        to_first_attempt=_quantiles(spreads["attempt"]),
        to_first_contact=_quantiles(spreads["contact"]),
    )


def funnel(
    scope: Scope, found: Overdoses, done: FollowUp, treatment: Treatment
) -> list[FunnelStep]:
    steps: list[tuple[Any, int]] = [
        ("events", found.total), ("persons", found.persons), ("cases", done.cases),
        ("attempted", done.attempted), ("contacted", done.contacted),
    ]  # fmt: skip
    if scope.clinical:
        referred, entered, r30, r90 = treatment.overdose
        steps += [("referred", referred), ("entered", entered), ("retained_30d", r30),
                  ("retained_90d", r90)]  # fmt: skip
    return [FunnelStep(step=s, count=n) for s, n in steps]


def contact_time_distribution(data: CaseData) -> list[HistogramBin]:
    return [
        HistogramBin(from_hours=low, to_hours=high, count=n)
        for (low, high), n in zip(BINS, data.done.bins, strict=True)
    ]


def by_team(data: CaseData) -> list[TeamContactTimes]:
    """Each team's first contacts of the period's overdose cases, most first."""
    ordered = sorted(data.teams.items(), key=lambda kv: (-kv[1].n, kv[0]))
    return [
        TeamContactTimes(
            team_id=team,
            contacted=s.n,
            to_first_contact=_quantiles(s),
        )
        for team, s in ordered
    ]


def first_contacts_per_bucket(scope: Scope) -> dict[int, int]:
    """Overdose cases whose first contact fell in each bucket (whenever the overdose was)."""
    bucket = bucket_of(cases.c.first_contact_at, scope.bucket_ends).label("bucket")
    rows = scope.conn.execute(
        select(bucket, func.count())
        .where(
            cases.c.program_id == scope.program.id,
            cases.c.kind == CaseKind.OVERDOSE.value,
            cases.c.merged_into.is_(None),
            in_range(cases.c.first_contact_at, scope.period.start_utc, scope.period.end_utc),
        )
        .group_by(bucket)
    ).all()
    return {int(b): int(n) for b, n in rows}


def _in_bin(hours: Any, low: int, high: int | None) -> Any:
    """The first bin takes any hours below its top, the last any at or above its bottom."""
    if low == 0:
        return hours < high
    return hours >= low if high is None else and_(hours >= low, hours < high)


def _to_contact(scope: Scope) -> Any:
    return hours_between(scope.dialect, cases.c.first_contact_at, cases.c.occurred_at)


def _first_contact_times(scope: Scope) -> Any:
    """(team, hours) of each first contact of the period's overdose cases: the team of
    the contacted attempt at the case's first contact (of two at that very time, the
    first team by name)."""
    hours = _to_contact(scope).label("hours")
    per_case = (
        select(func.min(attempts.c.team_id).label("key"), hours)
        .select_from(attempts.join(cases, attempts.c.case_id == cases.c.id))
        .where(
            scope.cohort(overdose_only=True),
            attempts.c.at == cases.c.first_contact_at,
            attempts.c.result.startswith("contacted_", autoescape=True),
        )
        .group_by(cases.c.id, hours)
        .subquery()
    )
    return select(per_case.c.key, per_case.c.hours).subquery()


def _quantiles(spread: Spread | None) -> Quantiles:
    if spread is None:
        return suppression.quantiles(0, None, None)
    return suppression.quantiles(spread.n, spread.median, spread.p90)

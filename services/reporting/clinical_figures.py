"""What only roles with `view_clinical` see: outcomes, referrals made at visits (PCO's six
services) and to treatment providers (by kind) with the confirmed states, naloxone kits and
the other services left, needs and barriers met most often. Of the period's cases of every
kind (the team serves families and referred persons too).

Referrals by type count the visits that made one (the referral a case closes with is its
last visit's); treatment referrals count each referral by its provider's kind; referred /
entered / retained count cases. Visits' services, needs and barriers are the words each
attempt stored, counted once an attempt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select, tuple_

from schemas.cases import CaseKind, Referral, VisitResult
from schemas.report import ClinicalFigures, named
from schemas.treatment import ProviderKind
from schemas.visits import ServiceGiven
from services.reporting.scope import Scope
from services.reporting.spread import count_words
from services.store.tables import attempts, cases, treatment_referrals

TOP = 10  # needs and barriers: the most frequent


Steps = tuple[int, int, int, int]  # referred, entered, retained 30 days, 90 days
NONE: Steps = (0, 0, 0, 0)


@dataclass(frozen=True)
class Treatment:
    """Cases with a treatment referral; of them entered; retained 30 days; 90 days."""

    overdose: Steps  # of the overdose cases (the funnel)
    every_kind: Steps


def treatment_steps(scope: Scope) -> Treatment:
    if not scope.clinical:
        return Treatment(NONE, NONE)
    tr = treatment_referrals
    overdose = (cases.c.kind == CaseKind.OVERDOSE.value).label("overdose")

    def reached(column: Any) -> Any:
        return func.max(case((column.is_not(None), 1), else_=0))

    per_case = (
        select(
            overdose,
            reached(tr.c.entered_at).label("entered"),
            reached(tr.c.retained_30d_at).label("r30"),
            reached(tr.c.retained_90d_at).label("r90"),
        )
        .select_from(tr.join(cases, tr.c.case_id == cases.c.id))
        .where(scope.cohort())
        .group_by(tr.c.case_id, cases.c.kind)
        .subquery()
    )
    p = per_case.c
    rows = scope.conn.execute(
        select(
            p.overdose, func.count(), func.sum(p.entered), func.sum(p.r30), func.sum(p.r90)
        ).group_by(p.overdose)
    ).all()
    found = {bool(r[0]): _steps(r[1:]) for r in rows}
    mine, others = found.get(True, NONE), found.get(False, NONE)
    return Treatment(mine, _steps([a + b for a, b in zip(mine, others, strict=True)]))


def _steps(values: Any) -> Steps:
    referred, entered, r30, r90 = (int(v or 0) for v in values)
    return referred, entered, r30, r90


def clinical_figures(
    scope: Scope, outcomes: dict[str, int], treatment: Treatment
) -> ClinicalFigures | None:
    """`outcomes`: the period's cases by outcome (case_figures.follow_up counted them)."""
    if not scope.clinical:
        return None
    referred, entered, r30, r90 = treatment.every_kind
    words = _visit_words(scope)
    services = words["services"]
    needs, barriers = _top(words["needs"]), _top(words["barriers"])
    left = [s.value for s in ServiceGiven if s is not ServiceGiven.NALOXONE_KIT]
    left += sorted(set(services) - set(left) - {ServiceGiven.NALOXONE_KIT.value})
    left_counts = _most_first([(s, services.get(s, 0)) for s in left])
    return ClinicalFigures(
        outcomes=named(_outcomes(outcomes)),
        referrals_by_type=named(_by_type(words["referrals"])),
        treatment_by_kind=named(_treatment_by_kind(scope)),
        referred=referred,
        entered=entered,
        retained_30d=r30,
        retained_90d=r90,
        naloxone_kits=services.get(ServiceGiven.NALOXONE_KIT.value, 0),
        services_left=named(left_counts),
        needs_top=named(needs),
        barriers_top=named(barriers),
    )


def _outcomes(counted: dict[str, int]) -> list[tuple[str, int]]:
    """Every outcome, in their order, then those of cases without one (open, closed)."""
    return list(({r.value: 0 for r in VisitResult} | counted).items())


def _by_type(counted: dict[str, int]) -> list[tuple[str, int]]:
    return list(({r.value: 0 for r in Referral} | counted).items())


def _treatment_by_kind(scope: Scope) -> list[tuple[str, int]]:
    tr = treatment_referrals
    rows = scope.conn.execute(
        select(tr.c.kind, func.count())
        .select_from(tr.join(cases, tr.c.case_id == cases.c.id))
        .where(scope.cohort())
        .group_by(tr.c.kind)
    ).all()
    counted = {k.value: 0 for k in ProviderKind} | {str(k): int(n) for k, n in rows}
    return list(counted.items())


def _visit_words(scope: Scope) -> dict[str, dict[str, int]]:
    """The words of the visits' services, needs and barriers, and their referrals, counted
    in one pass over the period's attempts grouped by each column apart (GROUPING SETS)
    on PostgreSQL; elsewhere one grouped statement a column."""
    columns = {"services": attempts.c.services, "needs": attempts.c.needs,
               "barriers": attempts.c.barriers, "referrals": attempts.c.referral}  # fmt: skip
    visits = attempts.join(cases, attempts.c.case_id == cases.c.id)
    if scope.dialect == "postgresql":
        sets = func.grouping_sets(*(tuple_(c) for c in columns.values()))
        query = (
            select(*columns.values(), func.count())
            .select_from(visits)
            .where(scope.cohort())
            .group_by(sets)
        )
        found: dict[str, list[tuple[str, int]]] = {name: [] for name in columns}
        for *values, n in scope.conn.execute(query):
            for name, value in zip(columns, values, strict=True):
                if value is not None:
                    found[name].append((value, n))
        return {name: count_words(rows) for name, rows in found.items()}
    counted = {}
    for name, column in columns.items():
        rows = scope.conn.execute(
            select(column, func.count())
            .select_from(visits)
            .where(scope.cohort(), column.is_not(None))
            .group_by(column)
        ).all()
        counted[name] = count_words(rows)
    return counted


def _most_first(rows: list[tuple[str, int]]) -> list[tuple[str, int]]:
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def _top(counted: dict[str, int]) -> list[tuple[str, int]]:
    return _most_first([(k, n) for k, n in counted.items() if n > 0])[:TOP]

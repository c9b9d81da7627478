"""What a role may not see, it may not infer: the one cut every output goes through.

`redact(view, who, program_id)` takes any view a program's data leaves in (a queue
item or page, a shift plan or a list of them, a case's detail, a live case event, a
match review, a CSV export row) and returns it as `who` may see it:

- without clinical sight (law-enforcement members, 42 CFR Part 2): no tier's name
  (the neutral label `follow-up`: a tier says why a case is where it is, `deferred`
  only because the person "declined, wants help later", and `[program.tiers]` can make
  one mean "accepted treatment"), no referral, no clinical facts of a report, and of a
  visit result only whether contact was made (`contacted` for every `contacted_*`);
  such a role may not filter the queue by tier either (the filter tells the same);
- without sight of the person: no name, date of birth, phone or address.

The readers also leave out what the caller may not see (least privilege: nothing is
opened for nothing); `redact` is the guarantee at the edge, applied last. The test
tests/integration/test_every_output_every_role.py walks every output for every role."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, TypeVar

from schemas.case_views import AttemptView, CaseDetail, ReportView, ReviewView
from schemas.cases import NEUTRAL_TIER, QueueItem, QueuePage, ShiftPlan
from services.accounts.roles import Capability, Principal

V = TypeVar("V")


@dataclass(frozen=True)
class ExportRow:
    """One line of the CSV export (services/store/export_rows.py), before encoding."""

    base: tuple[object, ...]  # case id, status, tier, occurred, due, owner, team
    person: tuple[object, ...] | None = None
    clinical: tuple[object, ...] | None = None

    TIER_AT = 2


@dataclass(frozen=True)
class _Sight:
    clinical: bool
    person: bool


def sees_tier(who: Principal, program_id: str) -> bool:
    return who.can(program_id, Capability.VIEW_CLINICAL)


def redacted_result(result: str | None) -> str | None:
    """What a role without clinical sight sees of a result: whether contact was made."""
    if result is None:
        return None
    return "contacted" if result.startswith("contacted_") else result


def redact(view: V, who: Principal, program_id: str) -> V:
    """`view` as `who` may see it in `program_id` (module doc)."""
    sight = _Sight(
        clinical=who.can(program_id, Capability.VIEW_CLINICAL),
        person=who.can(program_id, Capability.VIEW_PERSON),
    )
    if sight.clinical and sight.person:
        return view
    result: V = _cut(view, sight)
    return result


def _cut(view: Any, sight: _Sight) -> Any:
    match view:
        case QueueItem():
            return view if sight.clinical else view.model_copy(update={"tier": NEUTRAL_TIER})
        case CaseDetail():
            return _cut_detail(view, sight)
        case ReviewView():
            return (
                view
                if sight.person
                else view.model_copy(update={"person": None, "candidate": None})
            )
        case QueuePage() | ShiftPlan():
            return view.model_copy(update={"items": [_cut(i, sight) for i in view.items]})
        case list():
            return [_cut(v, sight) for v in view]
        case ExportRow():
            base = view.base
            if not sight.clinical:
                base = (*base[: ExportRow.TIER_AT], NEUTRAL_TIER, *base[ExportRow.TIER_AT + 1 :])
            return replace(
                view,
                base=base,
                person=view.person if sight.person else None,
                clinical=view.clinical if sight.clinical else None,
            )
        case dict():  # a live case event
            return view if sight.clinical else _cut_event(view)
    raise TypeError(f"no cut for {type(view).__name__}")


def _cut_detail(view: CaseDetail, sight: _Sight) -> CaseDetail:
    changes: dict[str, Any] = {} if sight.person else {"person": None}
    if not sight.clinical:
        changes.update(
            tier=NEUTRAL_TIER,
            outcome=redacted_result(view.outcome),
            referral=None,
            reports=[ReportView(ref=r.ref) for r in view.reports],
            attempts=[_cut_attempt(a) for a in view.attempts],
        )
    return view.model_copy(update=changes)


def _cut_attempt(attempt: AttemptView) -> AttemptView:
    return attempt.model_copy(update={"result": redacted_result(attempt.result), "referral": None})


def _cut_event(event: dict[str, Any]) -> dict[str, Any]:
    detail = {k: v for k, v in event.get("detail", {}).items() if k not in ("previous", "referral")}
    for key in ("outcome", "result"):
        if key in detail:
            detail[key] = redacted_result(detail[key])
    return {**event, "tier": NEUTRAL_TIER, "detail": detail}

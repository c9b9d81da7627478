"""What a role may not see, it may not infer: the one cut every output goes through.

`redact(view, who, program_id)` takes any view a program's data leaves in (a queue
item or page, a shift plan or a list of them, a case's detail, a live case event, a
match review, a CSV export row) and returns it as `who` may see it:

- without clinical sight (law-enforcement members, 42 CFR Part 2): no tier's name
  (the neutral label `follow-up`: a tier says why a case is where it is, `deferred`
  only because the person "declined, wants help later", and `[program.tiers]` can make
  one mean "accepted treatment"), no referral, no clinical facts of a report, and of a
  visit result only whether contact was made (`contacted` for every `contacted_*`);
  such a role may not filter the queue by tier either (the filter tells the same); nor
  a queue row's tier reason, a visit's notes, needs, barriers or services, or a reply;
  of a referral to treatment only that it was made and when (not the provider, the
  kind of treatment, nor whether the client entered or stayed in it);
  nor whether a client stays engaged, since when, their cadence or next check-in (the
  case's window and plan stay: when to visit);
- without sight of the person: no name, date of birth, phone, address, area or place,
  no visit notes (free text can name anyone) and no reply; of a case's contacts (family,
  friends) only how many;
- of a referral (`_cut_referrals`): its kind and urgency are cut like clinical facts,
  who referred and where to find the person like the person, its notes unless both.

The readers also leave out what the caller may not see (least privilege: nothing is
opened for nothing); `redact` is the guarantee at the edge, applied last. The test
tests/integration/test_every_output_every_role.py walks every output for every role."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, TypeVar

from schemas.case_views import AttemptView, CaseDetail, ReportView, ReviewView
from schemas.cases import NEUTRAL_TIER, CaseEventKind, QueueItem, QueuePage, ShiftPlan
from schemas.engagement_views import TreatmentReferralView
from schemas.person_views import PersonHistory
from services.accounts.roles import Capability, Principal

V = TypeVar("V")


@dataclass(frozen=True)
class ExportRow:
    """One line of the CSV export (services/store/export_rows.py), before encoding."""

    base: tuple[object, ...]  # case id, status, tier, occurred, due, owner, team, visits
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
    result: V = _cut_referrals(_cut(view, sight), sight)
    return result if sight.clinical else _no_engagement(result)


def _cut(view: Any, sight: _Sight) -> Any:
    match view:
        case QueueItem():
            cut: dict[str, Any] = {} if sight.person else {"name": None, "area": None}
            if not sight.clinical:  # the reason tells the result of the last follow-up
                cut.update(tier=NEUTRAL_TIER, tier_reason=None)
            return view.model_copy(update=cut)
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
        case PersonHistory():
            return _cut_history(view, sight)
    raise TypeError(f"no cut for {type(view).__name__}")


def _cut_detail(view: CaseDetail, sight: _Sight) -> CaseDetail:
    reports = [_cut_report(r, sight) for r in view.reports]
    changes: dict[str, Any] = {"reports": reports}
    if not sight.person:
        changes.update(person=None, attempts=[_no_notes(a) for a in view.attempts])
    if not (sight.person and sight.clinical):
        changes.update(replies=[])  # a reply can tell of use or treatment
    changes.update(_cut_contacts(sight))
    if not sight.clinical:
        changes.update(
            tier=NEUTRAL_TIER,
            outcome=redacted_result(view.outcome),
            referral=None,
            attempts=[_cut_attempt(a) for a in view.attempts],
            treatment=_cut_treatment(view.treatment),
        )
    return view.model_copy(update=changes)


def _cut_contacts(sight: _Sight) -> dict[str, Any]:
    """A case's contacts are people too: without sight of identities, only how many
    (`contacts_count`), not who, their relation or their phone."""
    return {} if sight.person else {"contacts": []}


def _cut_history(view: PersonHistory, sight: _Sight) -> PersonHistory:
    if not sight.person:  # the readers never build one for such a role; nothing leaves
        return view.model_copy(update={"person": None, "overdoses": [], "cases": [], "texts": []})
    if sight.clinical:
        return view
    shown = [
        c.model_copy(
            update={
                "tier": NEUTRAL_TIER,
                "outcome": redacted_result(c.outcome),
                "referral": None,
                "attempts": [_cut_attempt(a) for a in c.attempts],
                "treatment": _cut_treatment(c.treatment),
            }
        )
        for c in view.cases
    ]
    return view.model_copy(update={"cases": shown})


def _cut_report(report: ReportView, sight: _Sight) -> ReportView:
    return report.model_copy(
        update={
            "clinical": report.clinical if sight.clinical else None,
            "place": report.place if sight.person else None,
        }
    )


def _no_notes(attempt: AttemptView) -> AttemptView:
    """Free-text notes can name anyone: only for roles that see the person too."""
    return attempt.model_copy(update={"notes": None})


def _cut_attempt(attempt: AttemptView) -> AttemptView:
    """Of a visit, a role without clinical sight sees whether contact was made, how and
    whom the team met; not the notes, needs, barriers, services or referral."""
    return attempt.model_copy(
        update={
            "result": redacted_result(attempt.result),
            "referral": None,
            "notes": None,
            "needs": [],
            "barriers": [],
            "services": [],
        }
    )


def _cut_treatment(shown: list[TreatmentReferralView]) -> list[TreatmentReferralView]:
    """Of a referral to treatment, a role without clinical sight sees that one was made
    and when; not the provider, the kind of treatment, nor whether the client entered or
    stayed in it (42 CFR Part 2: that is the treatment record itself)."""
    hidden = ("provider_id", "provider_name", "kind", "state", "entered_at",
              "retained_30d_at", "retained_90d_at", "ended_at")  # fmt: skip
    return [t.model_copy(update=dict.fromkeys(hidden)) for t in shown]


_ENGAGEMENT_KINDS = (CaseEventKind.ENGAGED.value, CaseEventKind.ENGAGEMENT_ENDED.value)
_CHECKIN_DETAIL = ("next_checkin_at", "every_days", "after_attempt")
_DETAIL_FIELDS = ("engaged_at", "next_checkin_at", "checkin_every_days")


def _no_engagement(view: Any) -> Any:
    """Without clinical sight, nothing of a client's engagement (services/cases/
    engagement.py): that they stay in touch tells what their visit found, as the tier
    would. The check-in's window and plan stay: that is when the team visits."""
    match view:
        case QueueItem():
            return view.model_copy(update={"next_checkin_at": None})
        case CaseDetail():
            return view.model_copy(update=dict.fromkeys(_DETAIL_FIELDS) | {"engaged": False})
        case QueuePage() | ShiftPlan():
            return view.model_copy(update={"items": [_no_engagement(i) for i in view.items]})
        case list():
            return [_no_engagement(v) for v in view]
        case PersonHistory():
            shown = [c.model_copy(update={"next_checkin_at": None}) for c in view.cases]
            return view.model_copy(update={"cases": shown})
        case dict() if view.get("kind") in _ENGAGEMENT_KINDS:  # a live case event
            detail = {k: v for k, v in view.get("detail", {}).items() if k not in _CHECKIN_DETAIL}
            return {**view, "kind": CaseEventKind.TIER_CHANGED.value, "detail": detail}
    return view


def _cut_referrals(view: Any, sight: _Sight) -> Any:
    """Of a referral, its kind and urgency are cut like clinical facts (a provider, a
    hospital or a court tell of treatment or the law), who referred and where to find the
    person like the person's identity, the notes unless both are seen."""
    clinical: dict[str, Any] = {} if sight.clinical else {"referral_kind": None}
    match view:
        case QueueItem():
            return view.model_copy(update=clinical)
        case CaseDetail():
            cut = {} if sight.clinical else {"kind": None, "urgency": None}
            if not sight.person:
                cut.update(referrer_name=None, referrer_relation=None, referrer_phone=None,
                           where=None)  # fmt: skip
            kept = [r.model_copy(update={**cut, "notes": None}) for r in view.referrals]
            return view.model_copy(update={**clinical, "referrals": kept})
        case QueuePage() | ShiftPlan():
            return view.model_copy(update={"items": [_cut_referrals(i, sight) for i in view.items]})
        case list():
            return [_cut_referrals(v, sight) for v in view]
        case PersonHistory():
            cases = [c.model_copy(update=clinical) for c in view.cases]
            return view.model_copy(update={"cases": cases})
        case dict() if not sight.clinical:  # a live case event
            detail = {k: v for k, v in view.get("detail", {}).items() if k != "referral_kind"}
            return {**view, "detail": detail}
    return view


def _cut_event(event: dict[str, Any]) -> dict[str, Any]:
    detail = {k: v for k, v in event.get("detail", {}).items() if k not in ("previous", "referral")}
    for key in ("outcome", "result"):
        if key in detail:
            detail[key] = redacted_result(detail[key])
    return {**event, "tier": NEUTRAL_TIER, "detail": detail}

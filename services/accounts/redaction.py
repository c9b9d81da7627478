"""What a role may not see, it may not infer: the cut every output goes through.

A case's tier says why it is where it is in the queue: `deferred` only because the
person's last follow-up ended "contacted, declined, wants help later", and a
program's `[program.tiers]` can make a tier mean "accepted treatment". So a role
without clinical sight (law-enforcement members, 42 CFR Part 2) sees the queue's
order and the neutral label `follow-up`, never a tier's name, in the queue, a
case's detail, the live stream, the pages, the plan and the CSV; and may not
filter the queue by tier (the filter would tell the same thing).

`redact(view, who, program_id)` takes any of those views and returns it as `who`
may see it."""

from __future__ import annotations

from typing import Any, TypeVar

from schemas.case_views import CaseDetail
from schemas.cases import NEUTRAL_TIER, QueueItem, QueuePage, ShiftPlan
from services.accounts.roles import Capability, Principal

V = TypeVar("V")


def sees_tier(who: Principal, program_id: str) -> bool:
    return who.can(program_id, Capability.VIEW_CLINICAL)


def tier_shown(who: Principal, program_id: str, tier: str) -> str:
    return tier if sees_tier(who, program_id) else NEUTRAL_TIER


def redact(view: V, who: Principal, program_id: str) -> V:
    """`view` (a queue item or page, a shift plan or a list of them, a case's detail, or a
    live case event as a dict) as `who` may see it in `program_id`."""
    if sees_tier(who, program_id):
        return view
    return _neutral(view)


def _neutral(view: Any) -> Any:
    match view:
        case QueueItem() | CaseDetail():
            return view.model_copy(update={"tier": NEUTRAL_TIER})
        case QueuePage():
            return view.model_copy(update={"items": [_neutral(i) for i in view.items]})
        case ShiftPlan():
            return view.model_copy(update={"items": [_neutral(i) for i in view.items]})
        case list():
            return [_neutral(v) for v in view]
        case dict():  # a live case event
            detail = {k: v for k, v in view.get("detail", {}).items() if k != "previous"}
            return {**view, "tier": NEUTRAL_TIER, "detail": detail}
    raise TypeError(f"no cut for {type(view).__name__}")

"""QRT priority tiers from a person's history with the program (Huntington's rule).

"The first priority is given to people whom the QRT has not previously contacted,
followed by people who could not be located during previous responses. A lower
priority is given to people who were previously contacted and chose not to seek
treatment, but expressed interest in assistance in the future."

- `new`: no earlier case, or every earlier case closed without any attempt;
- `unlocated`: the latest earlier follow-up (with an attempt) ended not located
  (or at a bad address: the team could not find the person either way);
- `deferred`: the latest earlier follow-up ended contacted, declined, wants help later;
- any other latest outcome (accepted treatment, declined, hospitalized or in
  custody, opted out) maps through the program's `tiers` setting, default `new`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from schemas.cases import Tier, VisitResult


class OtherHistoryTiers(BaseModel):
    """Program setting: the tier after a latest outcome Huntington's rule does not name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contacted_accepted_treatment: Tier = Tier.NEW
    contacted_declined: Tier = Tier.NEW
    hospitalized_or_in_custody: Tier = Tier.NEW
    opted_out: Tier = Tier.NEW


@dataclass(frozen=True)
class PastCase:
    """An earlier, closed case of the same person: when, and how it ended."""

    closed_at: datetime
    outcome: VisitResult | None
    attempted: bool


def tier_for_history(history: Sequence[PastCase], rules: OtherHistoryTiers) -> Tier:
    followed_up = [c for c in history if c.attempted and c.outcome is not None]
    if not followed_up:
        return Tier.NEW
    latest = max(followed_up, key=lambda c: c.closed_at)
    assert latest.outcome is not None
    match latest.outcome:
        case VisitResult.NOT_LOCATED | VisitResult.BAD_ADDRESS:
            return Tier.UNLOCATED
        case VisitResult.CONTACTED_DECLINED_FUTURE_INTEREST:
            return Tier.DEFERRED
        case VisitResult.DECEASED:
            return Tier.NEW  # a later event for the "same" person means a wrong link
        case other:
            return Tier(getattr(rules, other.value))

"""Huntington's prioritization rule, from a person's history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.cases import Tier, VisitResult
from services.cases.tiering import OtherHistoryTiers, PastCase, tier_for_history

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT = OtherHistoryTiers()


def past(days: int, outcome: VisitResult | None, attempted: bool = True) -> PastCase:
    return PastCase(closed_at=T0 + timedelta(days=days), outcome=outcome, attempted=attempted)


def test_never_seen_is_new() -> None:
    assert tier_for_history([], DEFAULT) is Tier.NEW


def test_earlier_cases_closed_without_any_attempt_still_count_as_new() -> None:
    assert tier_for_history([past(1, VisitResult.NOT_LOCATED, attempted=False)], DEFAULT) is (
        Tier.NEW
    )


@pytest.mark.parametrize("outcome", [VisitResult.NOT_LOCATED, VisitResult.BAD_ADDRESS])
def test_could_not_be_located_is_unlocated(outcome: VisitResult) -> None:
    assert tier_for_history([past(1, outcome)], DEFAULT) is Tier.UNLOCATED


def test_declined_but_wants_help_later_is_deferred() -> None:
    history = [past(1, VisitResult.CONTACTED_DECLINED_FUTURE_INTEREST)]
    assert tier_for_history(history, DEFAULT) is Tier.DEFERRED


def test_the_latest_follow_up_decides() -> None:
    history = [
        past(5, VisitResult.CONTACTED_DECLINED_FUTURE_INTEREST),
        past(9, VisitResult.NOT_LOCATED),
        past(12, VisitResult.NOT_LOCATED, attempted=False),
    ]
    assert tier_for_history(history, DEFAULT) is Tier.UNLOCATED


def test_other_histories_follow_the_program_setting() -> None:
    history = [past(1, VisitResult.CONTACTED_ACCEPTED_TREATMENT)]
    assert tier_for_history(history, DEFAULT) is Tier.NEW
    custom = OtherHistoryTiers(contacted_accepted_treatment=Tier.DEFERRED)
    assert tier_for_history(history, custom) is Tier.DEFERRED

"""A referral to treatment moves only forward, one step at a time, each step with a date
that is neither in the future nor before the step it leaves (services/core/treatment.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.engagement_views import TreatmentState as S
from services.core.treatment import NEXT, Dates, Move, Refused, Unchanged, decide

REFERRED_AT = datetime(2026, 11, 1, 15, 0, tzinfo=UTC)
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
ALLOWED = {
    (S.REFERRED, S.ENTERED),
    (S.REFERRED, S.DECLINED),
    (S.REFERRED, S.NO_SHOW),
    (S.ENTERED, S.RETAINED_30D),
    (S.RETAINED_30D, S.RETAINED_90D),
}


def _dates(state: S) -> Dates:
    entered = REFERRED_AT + timedelta(days=1)
    return Dates(
        referred_at=REFERRED_AT,
        entered_at=entered if state in (S.ENTERED, S.RETAINED_30D, S.RETAINED_90D) else None,
        retained_30d_at=entered + timedelta(days=30)
        if state in (S.RETAINED_30D, S.RETAINED_90D)
        else None,
    )


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("to", list(S))
def test_only_the_forward_moves_are_allowed(current: S, to: S) -> None:
    at = REFERRED_AT + timedelta(days=100)  # late enough for any retention
    verdict = decide(current, _dates(current), to, at, NOW)
    if to is current:
        assert verdict == Unchanged(current)
    elif (current, to) in ALLOWED:
        assert isinstance(verdict, Move) and verdict.to is to and verdict.at == at
    else:
        assert isinstance(verdict, Refused)
        assert f"cannot become {to.value.replace('_', ' ')}" in verdict.reason
    assert {(c, t) for c, nexts in NEXT.items() for t in nexts} == ALLOWED


def test_each_move_keeps_its_date_in_its_own_column() -> None:
    at = REFERRED_AT + timedelta(hours=20)
    columns = {to: decide(S.REFERRED, _dates(S.REFERRED), to, at, NOW) for to in NEXT[S.REFERRED]}
    assert {to: v.column for to, v in columns.items() if isinstance(v, Move)} == {
        S.ENTERED: "entered_at",
        S.DECLINED: "ended_at",
        S.NO_SHOW: "ended_at",
    }


def test_a_final_state_says_it_is_final() -> None:
    verdict = decide(S.NO_SHOW, _dates(S.NO_SHOW), S.ENTERED, NOW, NOW)
    assert isinstance(verdict, Refused) and "no show is final" in verdict.reason
    verdict = decide(S.ENTERED, _dates(S.ENTERED), S.DECLINED, NOW, NOW)
    assert isinstance(verdict, Refused)
    assert "from entered only to retained 30d" in verdict.reason


def test_a_date_in_the_future_or_before_the_last_step_is_refused() -> None:
    future = decide(S.REFERRED, _dates(S.REFERRED), S.ENTERED, NOW + timedelta(hours=1), NOW)
    assert isinstance(future, Refused) and "in the future" in future.reason
    skew = decide(S.REFERRED, _dates(S.REFERRED), S.ENTERED, NOW + timedelta(minutes=5), NOW)
    assert isinstance(skew, Move)  # a few minutes of another system's clock
    early = REFERRED_AT - timedelta(days=1)
    before = decide(S.REFERRED, _dates(S.REFERRED), S.ENTERED, early, NOW)
    assert isinstance(before, Refused)
    assert "before it was referred (2026-11-01 15:00 UTC)" in before.reason


def test_a_time_to_the_minute_in_the_minute_of_the_last_step_is_that_moment() -> None:
    since = REFERRED_AT + timedelta(seconds=42)
    typed = REFERRED_AT  # a form's datetime-local: no seconds
    verdict = decide(S.REFERRED, Dates(referred_at=since), S.ENTERED, typed, NOW)
    assert verdict == Move(to=S.ENTERED, column="entered_at", at=since)
    a_minute_early = typed - timedelta(minutes=1)
    earlier = decide(S.REFERRED, Dates(referred_at=since), S.ENTERED, a_minute_early, NOW)
    assert isinstance(earlier, Refused)


@pytest.mark.parametrize(("to", "days"), [(S.RETAINED_30D, 30), (S.RETAINED_90D, 90)])
def test_retention_is_counted_from_entering(to: S, days: int) -> None:
    current = S.ENTERED if to is S.RETAINED_30D else S.RETAINED_30D
    dates = _dates(current)
    assert dates.entered_at is not None
    due = dates.entered_at + timedelta(days=days)
    too_soon = decide(current, dates, to, due - timedelta(minutes=1), NOW)
    assert isinstance(too_soon, Refused)
    assert f"needs {days} days in treatment" in too_soon.reason
    assert f"not before {due:%Y-%m-%d}" in too_soon.reason
    assert isinstance(decide(current, dates, to, due, NOW), Move)

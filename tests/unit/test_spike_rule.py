"""EARS C2 on a synthetic 60-day series with one injected spike."""

from __future__ import annotations

import random

from services.spikes.ears import C2Settings, c2, flagged_days


def background(days: int, seed: int) -> list[int]:
    """A quiet area: 0 to 2 overdoses a day, about one a day on average."""
    rng = random.Random(seed)
    return [rng.choice((0, 1, 1, 2)) for _ in range(days)]


def test_the_injected_spike_is_the_only_day_flagged() -> None:
    for seed in range(50):
        series = background(60, seed)
        series[45] += 6
        assert flagged_days(series) == [45], seed


def test_a_series_without_a_spike_flags_nothing() -> None:
    for seed in range(50):
        assert flagged_days(background(60, seed)) == [], seed


def test_the_guard_band_keeps_the_spike_out_of_its_own_baseline() -> None:
    series = [1] * 20 + [9, 9] + [1] * 5
    second = c2(series, 21)
    assert second is not None and second.flagged and second.expected == 1.0


def test_a_quiet_area_needs_three_overdoses_in_a_day() -> None:
    series = [0] * 30 + [2]
    result = c2(series, 30)
    assert result is not None and not result.flagged
    assert flagged_days([0] * 30 + [3]) == [30]


def test_too_short_a_history_is_not_tested() -> None:
    assert c2([5] * 8, 8) is None
    assert c2([0] * 9 + [5], 9) is not None
    assert flagged_days([9] * 5, C2Settings(threshold=0)) == []

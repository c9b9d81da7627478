"""The areas a report counts in, and the plain threshold rule (N in H hours)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from services.spikes.areas import AreaKind, areas_of, cell_center, grid_cell
from services.spikes.thresholds import Threshold, spike_at

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
THREE_IN_SIX = Threshold(count=3, window=timedelta(hours=6))


def hours(*offsets: float) -> list[datetime]:
    return [T0 + timedelta(hours=h) for h in offsets]


def km_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat = math.radians((a[0] + b[0]) / 2)
    return 111.2 * math.hypot(a[0] - b[0], (a[1] - b[1]) * math.cos(lat))


def test_a_grid_cell_is_about_a_kilometre_square() -> None:
    for lat, lon in ((25.77, -80.19), (40.65, -73.94), (61.2, -149.9)):
        row_up = cell_center(grid_cell(lat + 0.01, lon))
        col_right = cell_center(grid_cell(lat, lon + 0.02))
        here = cell_center(grid_cell(lat, lon))
        assert 1.0 < km_between(here, row_up) < 1.25
        assert 1.0 < km_between(here, col_right) < 2.6  # one or two cells over
        assert km_between(here, (lat, lon)) < 0.8  # the point is inside its cell


def test_points_a_few_metres_apart_share_a_cell_and_far_ones_do_not() -> None:
    assert grid_cell(40.65001, -73.94001) == grid_cell(40.65002, -73.94002)
    assert grid_cell(40.655, -73.945) != grid_cell(40.675, -73.945)


def test_a_report_counts_in_its_zip_county_and_cell() -> None:
    found = areas_of("14201-1234", "36029", 42.89, -78.88)
    assert [(a.kind, a.name) for a in found][:2] == [
        (AreaKind.ZIP, "14201"),
        (AreaKind.COUNTY, "36029"),
    ]
    assert found[2].kind is AreaKind.GRID
    assert areas_of(None, None, None, None) == []


def test_the_third_overdose_within_six_hours_starts_a_spike() -> None:
    times = hours(0, 1, 1.5, 2)
    assert spike_at(times[:2], T0 + timedelta(hours=1), THREE_IN_SIX) is None
    on = spike_at(times[:3], times[2], THREE_IN_SIX)
    assert on is not None and on.started_at == times[2] and on.count == 3
    grown = spike_at(times, times[3], THREE_IN_SIX)
    assert grown is not None and grown.started_at == times[2] and grown.count == 4


def test_three_spread_over_more_than_the_window_are_no_spike() -> None:
    assert spike_at(hours(0, 4, 8, 12), T0 + timedelta(hours=12), THREE_IN_SIX) is None


def test_a_spike_ends_when_the_window_clears_and_a_later_one_is_new() -> None:
    times = hours(0, 1, 2)
    assert spike_at(times, T0 + timedelta(hours=5.9), THREE_IN_SIX) is not None
    assert spike_at(times, T0 + timedelta(hours=6), THREE_IN_SIX) is None  # the first left
    again = hours(0, 1, 2, 20, 21, 22)
    later = spike_at(again, again[-1], THREE_IN_SIX)
    assert later is not None and later.started_at == again[-1] and later.count == 3


def test_a_spike_that_keeps_going_keeps_its_start() -> None:
    times = hours(0, 1, 2, 4, 6, 8, 10)  # never fewer than 3 in the trailing 6 h
    on = spike_at(times, times[-1], THREE_IN_SIX)
    assert on is not None and on.started_at == times[2] and on.count == 7
    gap = hours(0, 1, 2, 5, 7, 9, 11)  # just before 9 the window holds only 5 and 7
    later = spike_at(gap, gap[-1], THREE_IN_SIX)
    assert later is not None and later.started_at == gap[5] and later.count == 4

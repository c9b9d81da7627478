"""The alert page's map (pure SVG) and the `[program.spikes]` settings."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.spikes.area_map import BoundaryError, draw, rings_of
from services.spikes.areas import AreaKind
from services.spikes.settings import SpikeSettings, rule_name
from services.spikes.thresholds import Threshold

SQUARE = {"type": "Polygon", "coordinates": [[[-82.5, 38.4], [-82.4, 38.4], [-82.4, 38.5],
                                              [-82.5, 38.5], [-82.5, 38.4]]]}  # fmt: skip


CIRCLE = re.compile(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="7" class="([^"]+)"')


def circles(svg: str) -> list[tuple[float, float, str]]:
    return [(float(x), float(y), kind) for x, y, kind in CIRCLE.findall(svg)]


def test_points_are_drawn_inside_the_box_north_up_east_right_and_rounded() -> None:
    svg = draw([(38.45, -82.45, False), (38.46, -82.44, True)], (), width=600, height=400)
    (a, b) = circles(svg)
    assert all(16 <= x <= 584 and 16 <= y <= 384 for x, y, _ in (a, b))
    assert b[0] > a[0], "east is to the right"
    assert b[1] < a[1], "north is up"
    assert (a[2], b[2]) == ("map-point", "map-point fatal")
    one = circles(
        draw([(38.450001, -82.45, False), (38.46, -82.44, False)], (), width=600, height=400)
    )
    assert one[0][:2] == a[:2], "a place moved by 10 cm draws at the same spot (0.001 degree)"
    assert "km</text>" in svg, "a scale bar"


def test_a_boundary_is_drawn_under_the_points_and_bad_geojson_is_refused() -> None:
    feature = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": SQUARE}]}
    rings = rings_of(feature)
    assert rings == [[(-82.5, 38.4), (-82.4, 38.4), (-82.4, 38.5), (-82.5, 38.5), (-82.5, 38.4)]]
    svg = draw([(38.45, -82.45, False)], rings, width=600, height=400)
    assert svg.index("<polygon") < svg.index("<circle"), "the boundary lies under the points"
    with pytest.raises(BoundaryError):
        rings_of({"type": "LineString", "coordinates": [[0, 0], [1, 1]]})
    with pytest.raises(BoundaryError):
        rings_of({"type": "Polygon", "coordinates": "no"})
    assert "no places to draw" in draw([], ())
    assert "&lt;b&gt;" in draw([], (), title="<b>"), "the title is escaped"


def test_spike_settings_give_the_rules_and_refuse_an_unconsented_or_bad_number() -> None:
    settings = SpikeSettings()
    rules = settings.rules()
    assert rules == {AreaKind.ZIP: Threshold(3, timedelta(hours=6)),
                     AreaKind.COUNTY: Threshold(5, timedelta(hours=24))}  # fmt: skip
    assert rule_name(rules[AreaKind.ZIP]) == "threshold 3 in 6 h"
    with_grid = SpikeSettings(grid_threshold=4, grid_window_hours=1.5)
    assert rule_name(with_grid.rules()[AreaKind.GRID]) == "threshold 4 in 1.5 h"
    with pytest.raises(ValidationError, match="opted_in"):
        SpikeSettings.model_validate({"on_call": [{"phone": "+13045550100"}]})
    with pytest.raises(ValidationError, match=r"E\.164"):
        SpikeSettings.model_validate(
            {"on_call": [{"phone": "304 555 0100", "opted_in": "2026-11-01"}]}
        )
    with pytest.raises(ValidationError, match="twice"):
        SpikeSettings.model_validate(
            {"on_call": [{"phone": "+13045550100", "opted_in": "2026-11-01"}] * 2}
        )
    with pytest.raises(ValidationError):
        SpikeSettings(zip_threshold=1)

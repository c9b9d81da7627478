"""The timer worker's planning pace: a slow plan spaces out the next one."""

from __future__ import annotations

from services.planning.pace import PlanPace


def test_planning_waits_four_times_its_last_duration() -> None:
    pace = PlanPace()
    assert pace.due(0.0), "the first plan runs at once"
    pace.last_started, pace.last_took = 10.0, 0.8  # a plan of 10,000 cases
    assert not pace.due(10.8) and not pace.due(13.9)
    assert pace.due(14.0)
    pace.last_started, pace.last_took = 20.0, 0.005  # a small program: every tick
    assert pace.due(21.0)

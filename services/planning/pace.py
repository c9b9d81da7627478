"""How often the timer worker re-plans: a slow plan spaces out the next one."""

from __future__ import annotations


class PlanPace:
    """Re-planning can take a while (a plan in full of a big program, or a big batch of
    changes); between two runs the timer worker leaves at least PLAN_DUTY times the last
    run's duration, so planning never takes more than about a fifth of a core however many
    cases are open or changed (a requested plan reads only the part the changes can move:
    services/planning/incremental.py)."""

    PLAN_DUTY = 4.0

    def __init__(self) -> None:
        self.last_started = float("-inf")
        self.last_took = 0.0

    def due(self, now: float) -> bool:
        return now - self.last_started >= self.last_took * (1 + self.PLAN_DUTY)

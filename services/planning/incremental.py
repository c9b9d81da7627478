"""Incremental planning: after a change, plan only the part of a program it can move, and get
exactly the plan that planning every open case would give.

The full plan of a program at `now` is `plan_visits` over its open cases; call it G(C). The
store keeps the last plan (each case's plan columns, made at t0 = `planned_at`, with the
`plan_basis` of the teams and zone it was made with) and a change log that the database
keeps itself, in the transaction of each change: every case inserted or deleted, or whose
program, status, tier rank, window, overdose time or missed time changed, with its state
before (placed by the stored plan or not, its priority key then).

Why a part is enough (P = the cases the stored plan places; "fits" as in planner.py):

1. At-risk cases shape nothing (planner.py): for any K within C that holds every case G(C)
   places, G(K) is G(C) on K.
2. A case is placed iff the cases ahead of it in priority order, with it, can all be placed
   together (the planner's "Priority" guarantee: the placed cases are the greedy basis of a
   matroid); so the placed cases ahead of an at-risk case u already block it: they fill
   every shift u could reach. With no shift ending between t0 and `now`, and for cases
   whose window did not close in between, the shifts each case fits are the same at both
   moments (planner.py, "Stable in time").
3. Call *moved* the cases of P that left the open cases, changed an input, or whose window
   closed since t0. An unchanged case u at risk in the stored plan, with no moved case ahead
   of it, is still at risk, for the same reason: the placed cases that blocked it are still
   there, unchanged, ahead of it (new cases ahead of it only block more). A case with no
   shift in its window keeps none (fitting shifts only go as time passes).
4. Once every usable shift is full (`PlanRun.saturated`), every later case is at risk.

So the part K to plan is: the changed cases, the placed ones, those whose window closed
since t0, and, if some case moved, every case from the first moved one (by its key before
the change) on, read in priority order until the run is saturated. Every case outside K is
at risk in G(C) for the reason it has stored, and G(K) gives the rest: the plan written is
G(C), to the case. The full plan runs instead (and on the timer, every
QRT_FULL_PLAN_MINUTES, whatever) when no plan is stored, the teams or zone changed, the
clock is behind the stored plan, a shift ended since it, or the log is not kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from services.core.priority import PriorityKey
from services.planning.planner import Plan, PlanCase, PlanRun, priority_key
from services.planning.shifts import Shift, TeamConfig, shifts_between

BASIS_VERSION = 1  # raise when the planner's rules change: stored plans are then re-made


def plan_basis(teams: Sequence[TeamConfig], zone: ZoneInfo) -> str:
    """What a stored plan was made with (the teams' shifts and capacities, the zone, the
    planner's rules), as a digest: a plan made on another basis is re-made in full."""
    made_with = {
        "version": BASIS_VERSION,
        "zone": zone.key,
        "teams": [t.model_dump(mode="json") for t in teams],
    }
    return hashlib.sha256(json.dumps(made_with, sort_keys=True).encode()).hexdigest()


def shift_ended(
    teams: Sequence[TeamConfig], zone: ZoneInfo, since: datetime, now: datetime
) -> bool:
    """Did a shift end in (since, now]: is a shift usable at `since` no longer usable?"""
    return any(s.end <= now for s in shifts_between(teams, zone, since, now))


def plan_part(
    must: Sequence[PlanCase],
    shifts: Sequence[Shift],
    now: datetime,
    start: PriorityKey | None = None,
    later: Iterable[Sequence[PlanCase]] = (),
) -> Plan:
    """Plan the cases of `must` and, from `start` on, those of `later` (pages of cases in
    priority order from `start`, read only while some shift has room left: the pages left
    when every shift is full are never asked for). A case of `later` that is also in `must`
    is planned once, as in `must`.

    With `later`, `shifts` must hold every shift any open case fits (up to the last due
    time): "every shift is full" then means every later case is at risk."""
    run = PlanRun(shifts, now)
    pending = sorted(must, key=priority_key)
    taken = {c.case_id for c in must}
    i = 0
    if start is not None:
        while i < len(pending) and priority_key(pending[i]) < start:
            run.add(pending[i])
            i += 1
        pages = iter(later)
        while not run.saturated:
            page = next(pages, None)
            if page is None:
                break
            for case in page:
                if case.case_id in taken:
                    continue
                key = priority_key(case)
                while i < len(pending) and priority_key(pending[i]) < key:
                    run.add(pending[i])
                    i += 1
                run.add(case)
    for case in pending[i:]:
        run.add(case)
    return run.plan()

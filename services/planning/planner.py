"""The visit planner: every open case gets a shift slot inside its visit window, or is at risk.

Pure: no I/O; the clock is the parameter `now`. Re-run on every change: over every open case,
or over the part of them a change can move, with the same result (incremental.py).

A slot is stored as `slot_from`, which does not depend on `now`: while every shift a case
could use is still running or ahead and no window has closed, planning the same cases again
at a later `now` gives the same slots (`visit_from`, the part not before `now`, is derived
from `slot_from` when the plan is read or shown).

Terms
-----
A case's *window* is [opens_at, due_at). A shift is *usable* if it ends after `now`. A shift
*fits* a case when the part of the shift inside the window and not before `now` is non-empty:
``max(shift.start, opens_at, now) < min(shift.end, due_at)``; that part is the slot's
[visit_from, visit_until). Cases are taken in *priority order*, the key
``(tier_rank, due_at, occurred_at, case_id)``: higher tier first (rank 0 is the highest), the
earliest deadline first within a tier. Shifts are taken in *shift order*
``(start, team_id, end)``.

Algorithm
---------
Greedy over a matroid, with augmenting paths (bipartite b-matching, cases x shift places).

1. Shifts that are not usable are dropped; the rest are sorted into shift order and indexed by
   start time, so the shifts fitting a window are found by bisection (starts in
   [window start - longest shift, window end)), not by scanning every shift.
2. Cases are taken one at a time in priority order. For a case:

   - no usable shift fits its window: at risk, ``NO_SHIFT_IN_WINDOW``;
   - else, a fitting shift with free capacity: the case takes the first such in shift order;
   - else, an augmenting path is searched breadth-first (shortest first, ties in shift order):
     the case takes a full shift S1, whose occupant c1 moves to a shift S2 that fits c1's own
     window, whose occupant c2 moves to S3, ... until a case moves into a shift with free
     capacity. Everyone already placed stays placed, each inside its own window; only one
     shift's load grows by one. No path: at risk, ``CAPACITY_FULL``.

   Every case already placed when a case is considered comes before it in priority order, so
   the cases moved along a path have higher or equal priority: they are moved (to another shift
   in their own window), never unplaced, to make room for the newcomer.

Speed. A failed search proves its whole search area dead: every shift it reached is full, and
every case in them fits only shifts it reached (otherwise the search would have gone on). Those
cases stay placed for the rest of the run and fill that area exactly, so no later path can
pass through it. Dead shifts are marked and skipped; a case all of whose fitting shifts are
dead, or any case once no shift has free capacity left, is at risk at once. So each shift is
searched by a failed search at most once, and the usual 1,000-cases-for-100-places run costs
about one bisection per case.

Guarantees
----------
- Partition: every input case is in exactly one of `Plan.slots` and `Plan.at_risk`.
- Capacity: no shift holds more slots than its capacity (a shift of capacity 0 holds none).
- Windows: every slot has ``visit_from = max(shift_start, opens_at, now)`` before
  ``visit_until = min(shift_end, due_at)``: the visit lies inside the case's window, inside its
  shift, and not before `now`. ``slot_from = max(shift_start, opens_at)``: the same part
  without the clamp to `now`, so ``visit_from == max(slot_from, now)``.
- Stable in time: between two values of `now` with no shift end and no due time in
  between, the plan is the same (the same cases at risk for the same reasons, the same
  slots with the same `slot_from` and `visit_until`). Every case's fitting shifts are
  then the same set: usable shifts all end after both values, so only `opens_at` decides.
- ``NO_SHIFT_IN_WINDOW`` exactly when no usable shift fits the case's window, whatever the
  other cases; otherwise a case at risk is ``CAPACITY_FULL``.
- Priority (lexicographic maximality). The sets of cases that can all be placed together form
  a (transversal) matroid, and a case is added iff an augmenting path exists, i.e. iff it can
  be placed together with every case already placed. Hence, for every k, the number of cases
  placed among the first k in priority order is the largest number any valid plan could place
  among those k. In particular a case is ``CAPACITY_FULL`` only if no plan at all places it
  together with the cases ahead of it that are placed: a higher-priority case is never left
  unplaced in favour of a lower one. Certificate (checked by the tests): from a
  ``CAPACITY_FULL`` case, the shifts reachable by alternating paths (its fitting shifts, the
  fitting shifts of their occupants, and so on) are all full, and all their occupants come
  before it in priority order, so by higher-or-equal (tier_rank, due_at).
- Earliness (local). For every placed case, every usable shift that fits its window and comes
  earlier in shift order than its own is full: no case could be moved to an earlier shift with
  spare room. (Each move puts a case in the first free fitting shift, or, inside a path, is
  made only when none of its fitting shifts was free; and a shift's load never goes down.)
  This is not a global optimum of lateness: a higher-priority case may be moved to a later
  shift inside its window so that a lower-priority one fits at all.
- Deterministic: the result depends only on the sets of cases and shifts and on `now`, not on
  their order (cases are sorted by a key ending in the unique case_id, shifts by shift order
  and their (team_id, start) is unique; every tie is broken by those orders).
- At-risk cases shape nothing: a case found at risk moves no one and takes no place (a
  failed search only marks shifts that no later path can pass, so the marks change no later
  result). Hence planning any subset of the cases that holds every placed case gives the
  same slots, and the same reasons to the at-risk cases in it (property-tested; the
  incremental planner, services/planning/incremental.py, rests on it).

Not guaranteed: stability between runs (a new case may move others to other shifts).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.core.priority import PriorityKey
from services.core.priority import priority_key as order_key
from services.planning.shifts import Shift


@dataclass(frozen=True)
class PlanCase:
    """An open case to plan: its tier rank (0 highest) and its visit window [opens_at, due_at)."""

    case_id: str
    tier_rank: int
    opens_at: datetime
    due_at: datetime
    occurred_at: datetime


@dataclass(frozen=True)
class Slot:
    """Where a case is visited: a team's shift, and the part of it inside the case's window."""

    case_id: str
    team_id: str
    shift_start: datetime
    shift_end: datetime
    visit_from: datetime
    visit_until: datetime
    slot_from: datetime  # max(shift_start, opens_at): the slot as stored, whatever `now`


class AtRiskReason(StrEnum):
    NO_SHIFT_IN_WINDOW = "no_shift_in_window"
    CAPACITY_FULL = "capacity_full"


@dataclass(frozen=True)
class Plan:
    """Every case planned appears in exactly one of `slots` and `at_risk` (keyed by case_id)."""

    slots: dict[str, Slot]
    at_risk: dict[str, AtRiskReason]


def priority_key(case: PlanCase) -> PriorityKey:
    """Priority order (services/core/priority.py): higher tier first, then the earliest
    deadline, then the oldest overdose."""
    return order_key(case.tier_rank, case.due_at, case.occurred_at, case.case_id)


def _check_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, got naive {value.isoformat()}")


class _Planner:
    """The state of one run; see the module docstring for the algorithm."""

    def __init__(self, shifts: list[Shift], now: datetime) -> None:
        self.now = now
        self.shifts = shifts
        self.starts = [s.start for s in shifts]
        self.ends = [s.end for s in shifts]
        self.capacity = [s.capacity for s in shifts]
        self.longest = max((s.end - s.start for s in shifts), default=timedelta(0))
        self.load = [0] * len(shifts)
        self.occupants: list[list[int]] = [[] for _ in shifts]
        self.dead = [False] * len(shifts)
        self.free_total = sum(self.capacity)
        # per case index (priority order): fitting shifts and the shift it holds
        self.fitting: list[list[int]] = []
        self.assigned: list[int] = []

    def fitting_shifts(self, case: PlanCase) -> list[int]:
        """Indexes (shift order) of usable shifts fitting the case's window."""
        low = max(case.opens_at, self.now)
        high = case.due_at
        if low >= high:
            return []
        first = bisect_left(self.starts, low - self.longest)
        last = bisect_left(self.starts, high)
        ends = self.ends
        return [i for i in range(first, last) if ends[i] > low]

    def add(self, case: PlanCase) -> AtRiskReason | None:
        """Plan the next case (cases come in priority order); None if placed, else why not."""
        index = len(self.fitting)
        fitting = self.fitting_shifts(case)
        self.fitting.append(fitting)
        self.assigned.append(-1)
        if not fitting:
            return AtRiskReason.NO_SHIFT_IN_WINDOW
        if self.free_total == 0:
            return AtRiskReason.CAPACITY_FULL
        load, capacity = self.load, self.capacity
        for shift in fitting:
            if load[shift] < capacity[shift]:
                self._move(index, shift)
                load[shift] += 1
                self.free_total -= 1
                return None
        if all(self.dead[s] for s in fitting) or not self._augment(index):
            return AtRiskReason.CAPACITY_FULL
        return None

    def _move(self, case: int, shift: int) -> None:
        old = self.assigned[case]
        if old >= 0:
            self.occupants[old].remove(case)
        self.occupants[shift].append(case)
        self.assigned[case] = shift

    def _augment(self, new: int) -> bool:
        """Breadth-first search for an augmenting path from case `new`; apply it if found."""
        load, capacity, dead, occupants = self.load, self.capacity, self.dead, self.occupants
        fitting, assigned = self.fitting, self.assigned
        came_from: dict[int, int] = {}  # full shift reached -> the case that would move into it
        queue = deque([new])
        while queue:
            case = queue.popleft()
            for shift in fitting[case]:
                if shift in came_from or dead[shift]:  # (a case's own shift is in came_from)
                    continue
                if load[shift] < capacity[shift]:
                    # Apply: `case` moves into the free shift; the case that reached the shift
                    # `case` leaves moves into it; and so on back to the new case.
                    target = shift
                    while True:
                        left = assigned[case]
                        self._move(case, target)
                        if left < 0:
                            break
                        target, case = left, came_from[left]
                    load[shift] += 1
                    self.free_total -= 1
                    return True
                came_from[shift] = case
                queue.extend(occupants[shift])
        for shift in came_from:
            dead[shift] = True
        return False


class PlanRun:
    """One planning run fed one case at a time, in strictly increasing priority order:
    `plan_visits` is a PlanRun fed every case, sorted. Adding the cases one by one is
    what lets the incremental planner (services/planning/incremental.py) stop reading
    cases as soon as every shift is full."""

    def __init__(self, shifts: Sequence[Shift], now: datetime) -> None:
        _check_aware(now, "now")
        self.now = now
        self.usable = _usable_shifts(shifts, now)
        self._planner = _Planner(self.usable, now)
        self._cases: list[PlanCase] = []
        self._ids: set[str] = set()
        self._at_risk: dict[str, AtRiskReason] = {}

    def add(self, case: PlanCase) -> None:
        if case.case_id in self._ids:
            raise ValueError(f"case {case.case_id!r} is listed twice")
        if self._cases and priority_key(case) <= priority_key(self._cases[-1]):
            raise ValueError(f"case {case.case_id!r} comes before the case added last")
        _check_aware(case.opens_at, f"case {case.case_id!r} opens_at")
        _check_aware(case.due_at, f"case {case.case_id!r} due_at")
        self._ids.add(case.case_id)
        self._cases.append(case)
        reason = self._planner.add(case)
        if reason is not None:
            self._at_risk[case.case_id] = reason

    @property
    def saturated(self) -> bool:
        """Every usable shift is full: every case added from now on is at risk, and none
        added so far moves again (a shift's load never goes down)."""
        return self._planner.free_total == 0

    def plan(self) -> Plan:
        """The plan of the cases added so far."""
        slots: dict[str, Slot] = {}
        now = self.now
        for index, case in enumerate(self._cases):
            held = self._planner.assigned[index]
            if held < 0:
                continue
            shift = self.usable[held]
            slots[case.case_id] = Slot(
                case_id=case.case_id,
                team_id=shift.team_id,
                shift_start=shift.start,
                shift_end=shift.end,
                visit_from=max(shift.start, case.opens_at, now),
                visit_until=min(shift.end, case.due_at),
                slot_from=max(shift.start, case.opens_at),
            )
        return Plan(slots=slots, at_risk=dict(self._at_risk))


def _usable_shifts(shifts: Sequence[Shift], now: datetime) -> list[Shift]:
    """The shifts that end after `now`, in shift order; the input checked."""
    usable: list[Shift] = []
    seen: set[tuple[str, datetime]] = set()
    for shift in shifts:
        what = f"shift of team {shift.team_id!r} at {shift.start.isoformat()}"
        _check_aware(shift.start, what)
        if shift.end <= shift.start:
            raise ValueError(f"{what} does not end after it starts")
        if shift.capacity < 0:
            raise ValueError(f"{what} has a negative capacity")
        if (shift.team_id, shift.start) in seen:
            raise ValueError(f"{what} is listed twice")
        seen.add((shift.team_id, shift.start))
        if shift.end > now:
            usable.append(shift)
    usable.sort(key=lambda s: (s.start, s.team_id, s.end))
    return usable


def plan_visits(cases: Sequence[PlanCase], shifts: Sequence[Shift], now: datetime) -> Plan:
    """Give every case a slot in a shift inside its window, or say why it is at risk.

    Datetimes must be aware. Case ids must be unique, and so must (team_id, start) among the
    shifts. See the module docstring for the order, the algorithm and what is guaranteed.
    """
    run = PlanRun(shifts, now)
    for case in sorted(cases, key=priority_key):
        run.add(case)
    return run.plan()

"""The shift plan as a team reads it: which shifts, in time order, each with its visits
in visiting order; who and where for the roles that may see the person; a flag on every
visit with less than an hour of window left.

One use case, one transaction: the plans are read, cut by role (`redact`), the persons
and places opened only for a role with `view_person`, and that read written to the
audit log in the same transaction (`plan_read`, with the case ids).

Which shifts (`choose_shifts`, pure): a day (in the program's zone) means every shift
starting on that day; no day means today's shifts that are not over yet and the next
shift after today (every team's shift starting at that first moment). A team narrows
either to that team.

Visiting order: the earliest start of the visit first, then the earliest end (a window
closing during the shift comes before one that outlasts it), then the QRT priority
order (services/core/priority.py: tier, due time, overdose time)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, select

from schemas.case_views import AddressView, PlaceView
from schemas.cases import TIER_RANK, QueueItem, ShiftPlan, Tier
from services.accounts.redaction import redact
from services.accounts.roles import Capability, Principal
from services.core.cases import stored_event_key
from services.core.priority import PriorityKey, priority_key
from services.crypto.fields import FieldCipher
from services.planning.shifts import Shift, shifts_between
from services.programs import Program
from services.store import person_records
from services.store.case_records import audit
from services.store.queue_reads import person_view, shift_plans
from services.store.repository import Store
from services.store.tables import events

SHORT_WINDOW = timedelta(hours=1)
NEXT_SHIFT_WITHIN = timedelta(days=8)  # a weekly pattern repeats within a week (days off aside)


def little_window_left(visit_from: datetime, due_at: datetime) -> bool:
    """The flag: less than an hour between the visit's start and the window's due time."""
    return due_at - visit_from < SHORT_WINDOW


@dataclass(frozen=True)
class PlanChoice:
    """The shifts to show: plans of shifts starting in [start, end) (of `team`, or all);
    `shifts` are the configured occurrences among them; with `over_before`, a shift that
    ended by then is left out."""

    start: datetime
    end: datetime
    team: str | None
    day: date | None
    shifts: tuple[Shift, ...]
    over_before: datetime | None = None


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def choose_shifts(
    program: Program, team: str | None, day: date | None, now: datetime
) -> PlanChoice:
    """A day: its shifts. No day: today's shifts not over at `now`, and the next shift."""
    zone = program.zone
    teams = [t for t in program.teams if team is None or t.id == team]
    if day is not None:
        start, end = _midnight(day, zone), _midnight(day + timedelta(days=1), zone)
        found = [s for s in shifts_between(teams, zone, start, end) if start <= s.start < end]
        return PlanChoice(start, end, team, day, tuple(found))
    today = now.astimezone(zone).date()
    today_start, today_end = _midnight(today, zone), _midnight(today + timedelta(days=1), zone)
    ahead = shifts_between(teams, zone, now, today_end + NEXT_SHIFT_WITHIN)  # ending after now
    current = [s for s in ahead if s.start < today_end]
    later = [s for s in ahead if s.start >= today_end]
    following = [s for s in later if s.start == later[0].start] if later else []
    start = min([today_start, *(s.start for s in current)])
    end = following[0].start + timedelta(microseconds=1) if following else today_end
    return PlanChoice(start, end, team, None, tuple(current + following), over_before=now)


@dataclass(frozen=True)
class PlanPlace:
    """A place to go: the overdose scene of a report, or a known residence."""

    kind: str  # "scene" or "residence"
    where: PlaceView | AddressView
    source: str  # ems, police, ...
    observed_at: datetime
    also_residence: bool = False  # a scene that is also a known residence


@dataclass(frozen=True)
class PlanVisit:
    item: QueueItem  # cut by role
    visit_from: datetime
    visit_until: datetime
    little_window: bool
    minutes_left: int  # from the visit's start to the due time
    name: str | None = None
    phone: str | None = None
    places: tuple[PlanPlace, ...] = ()


@dataclass(frozen=True)
class ShiftSheet:
    """One shift and its visits: a printed page."""

    team_id: str
    team_name: str
    start: datetime
    end: datetime | None  # None: a shift the program's teams do not configure (assigned)
    visits: tuple[PlanVisit, ...]


@dataclass(frozen=True)
class _Who:
    name: str | None
    phone: str | None
    places: tuple[PlanPlace, ...]


def _slot(
    item: QueueItem, team_id: str, start: datetime, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The visit's part of this shift: the plan's slot, or (a case assigned to this shift
    by a coordinator) the shift inside the window, not before `now`."""
    p = item.planned
    if p is not None and p.team_id == team_id and p.shift_start == start:
        return p.visit_from, p.visit_until
    until = item.window_due_at if end is None else min(end, item.window_due_at)
    return max(start, item.window_opens_at, now), until


def _visit(
    item: QueueItem, team_id: str, start: datetime, end: datetime | None, now: datetime
) -> PlanVisit:
    begin, until = _slot(item, team_id, start, end, now)
    left = item.window_due_at - begin
    return PlanVisit(
        item=item, visit_from=begin, visit_until=until,
        little_window=little_window_left(begin, item.window_due_at),
        minutes_left=int(left.total_seconds() // 60),
    )  # fmt: skip


def _place_key(where: PlaceView | AddressView) -> str:
    """The same place however it was typed (case, commas, spaces)."""
    parts = (where.address, where.city, where.state, where.zip)
    return " ".join(" ".join(p for p in parts if p).casefold().replace(",", " ").split())


def _scenes(
    conn: Connection, cipher: FieldCipher, case_ids: Sequence[str]
) -> dict[str, list[PlanPlace]]:
    """Each case's overdose scenes (latest report first), opened; one query."""
    found: dict[str, list[PlanPlace]] = {c: [] for c in case_ids}
    if not case_ids:
        return found
    rows = conn.execute(
        select(events.c.case_id, events.c.source, events.c.agency_id, events.c.event_id,
               events.c.occurred_at, events.c.scene_sealed)
        .where(and_(events.c.case_id.in_(list(case_ids)), events.c.scene_sealed.is_not(None)))
        .order_by(events.c.occurred_at.desc(), events.c.id.desc())
    ).all()  # fmt: skip
    for r in rows:
        key = stored_event_key(r.source, r.agency_id, r.event_id)
        w = person_records.open_scene(cipher, key, r.scene_sealed)
        if not (w.address or w.city or w.zip or w.lat is not None):
            continue  # a county alone is no place to go
        where = PlaceView(
            address=w.address, address2=w.address2, city=w.city, state=w.state, zip=w.zip,
            lat=w.lat, lon=w.lon, description=w.description,
        )  # fmt: skip
        if any(p.where == where for p in found[r.case_id]):
            continue  # the same scene in another report of this case
        found[r.case_id].append(PlanPlace("scene", where, r.source, r.occurred_at))
    return found


def _who(conn: Connection, cipher: FieldCipher, item: QueueItem, scenes: list[PlanPlace]) -> _Who:
    person = person_view(conn, cipher, item.person_id) if item.person_id else None
    if person is None:
        return _Who(None, None, tuple(scenes))
    name = " ".join(p for p in (person.first_name, person.last_name) if p) or None
    places = list(scenes)
    for a in person.addresses:  # latest first
        key = _place_key(a)
        if not key:
            continue
        same = [i for i, p in enumerate(places) if _place_key(p.where) == key]
        if same and places[same[0]].kind == "scene":
            places[same[0]] = replace(places[same[0]], also_residence=True)
        elif not same:
            places.append(PlanPlace("residence", a, a.source, a.observed_at))
    return _Who(name, person.phone, tuple(places))


def _priority(plans: Sequence[ShiftPlan], program: Program) -> dict[str, PriorityKey]:
    """Each case's place in the QRT priority order (read before the tiers are cut)."""
    found = {}
    for i in (i for p in plans for i in p.items):
        rank = program.queue.rank(i.tier) if isinstance(i.tier, Tier) else len(TIER_RANK)
        found[i.case_id] = priority_key(rank, i.window_due_at, i.occurred_at, i.case_id)
    return found


def _sheets(
    plans: Sequence[ShiftPlan], choice: PlanChoice, program: Program, now: datetime,
    priority: dict[str, PriorityKey],
) -> list[ShiftSheet]:  # fmt: skip
    ends = {(s.team_id, s.start): s.end for s in shifts_between(
        program.teams, program.zone, choice.start - timedelta(days=1), choice.end)}  # fmt: skip
    names = {t.id: t.name for t in program.teams}
    by_key = {(p.team_id, p.shift_start): p.items for p in plans}
    keys = set(by_key) | {(s.team_id, s.start) for s in choice.shifts}
    out = []
    for team_id, start in sorted(keys, key=lambda k: (k[1], k[0])):
        end = ends.get((team_id, start))
        if choice.over_before is not None and end is not None and end <= choice.over_before:
            continue
        visits = [_visit(i, team_id, start, end, now) for i in by_key.get((team_id, start), [])]
        visits.sort(key=lambda v: (v.visit_from, v.visit_until, priority[v.item.case_id]))
        out.append(ShiftSheet(team_id, names.get(team_id, team_id), start, end, tuple(visits)))
    return out


def _with_people(sheet: ShiftSheet, people: dict[str, _Who]) -> ShiftSheet:
    visits = []
    for v in sheet.visits:
        who = people[v.item.case_id]
        visits.append(replace(v, name=who.name, phone=who.phone, places=who.places))
    return replace(sheet, visits=tuple(visits))


def read_plan(
    store: Store, cipher: FieldCipher, program: Program, who: Principal, choice: PlanChoice,
    now: datetime,
) -> list[ShiftSheet]:  # fmt: skip
    """The chosen shifts as `who` may see them; a read of persons or places is audited
    with the ids of the cases shown."""
    with store.transaction() as conn:
        found = shift_plans(
            conn, program.id, team_id=choice.team, start=choice.start, end=choice.end, now=now
        )
        priority = _priority(found, program)
        sheets = _sheets(redact(found, who, program.id), choice, program, now, priority)
        shown = [v.item for s in sheets for v in s.visits]
        if not shown or not who.can(program.id, Capability.VIEW_PERSON):
            return sheets
        scenes = _scenes(conn, cipher, [i.case_id for i in shown])
        people = {i.case_id: _who(conn, cipher, i, scenes[i.case_id]) for i in shown}
        audit(conn, now, who.actor, "plan_read", "program", program.id,
              {"cases": sorted(people)})  # fmt: skip
        return [_with_people(s, people) for s in sheets]

"""What the 8 am queue shows beyond ids: who (a short name), where (an area) and why
the case has its tier (the person's latest follow-up, in words).

`queue_page` (queue_reads.py) stays the fast path: ids, tiers and times, no sealed data.
`with_people` fills a page's rows on request, opening only what is asked and what the
caller may see (names and areas: `view_person`; tier reasons, which tell how a person's
last follow-up ended: `view_clinical`), and writes one audit row naming the case ids in
the caller's transaction. `redact` still cuts the answer last.

- name: first name and last initial ("Dana E."): enough to recognise a person on a list
  read at a glance, on a phone, in the field or in a morning meeting; the full identity is
  one audited step away on the case page;
- area: city and ZIP of the case's latest overdose scene (`events.scene_sealed`), else of
  the person's latest residence (`person_addresses`): where to start looking;
- tier_reason: from the person's earlier closed cases as the tier is
  (`services/cases/tiering.py`): the latest follow-up with an attempt, its outcome and the
  day of the last attempt that found it, e.g. "not located on 11/20"."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, select

from schemas.cases import MERGED_INTO, CaseStatus, QueueItem, QueuePage, Tier, VisitResult
from schemas.overdose_event import Address
from services.accounts.redaction import redact
from services.accounts.roles import Capability, Principal
from services.cases.engagement_rules import engaged_reason
from services.cases.family_settings import family_reason
from services.core.cases import stored_event_key
from services.crypto.fields import FieldCipher
from services.store import person_records
from services.store.case_records import audit
from services.store.queue_reads import QueueFilters, _filtered, queue_page
from services.store.repository import Store
from services.store.tables import attempts, cases, events, person_addresses
from services.store.user_reads import usernames

QueueInclude = Literal["person", "tier_reason"]
INCLUDES: tuple[str, ...] = get_args(QueueInclude)
AUDIT_ACTION = "queue_people_read"
_CHUNK = 500


@dataclass(frozen=True)
class FollowUp:
    """A closed case of the person: how it ended, and when the team last found that."""

    case_id: str
    closed_at: datetime
    outcome: VisitResult | None
    tried_at: datetime | None  # the last attempt (with the outcome's result, if any); None: none


_ENDED: dict[VisitResult, str] = {
    VisitResult.NOT_LOCATED: "not located on {day}",
    VisitResult.BAD_ADDRESS: "bad address on {day}",
    VisitResult.CONTACTED_DECLINED_FUTURE_INTEREST: "declined on {day}, wants help later",
    VisitResult.CONTACTED_ACCEPTED_TREATMENT: "accepted treatment on {day}",
    VisitResult.CONTACTED_DECLINED: "declined on {day}",
    VisitResult.HOSPITALIZED_OR_IN_CUSTODY: "in hospital or in custody on {day}",
    VisitResult.OPTED_OUT: "opted out on {day}",
    VisitResult.DECEASED: "recorded as deceased on {day}: check the person link",
}


def _day(at: datetime, zone: ZoneInfo, now: datetime) -> str:
    local = at.astimezone(zone)
    same_year = local.year == now.astimezone(zone).year
    return f"{local.month}/{local.day}" + ("" if same_year else f"/{local.year}")


def reason_in_words(history: Sequence[FollowUp], zone: ZoneInfo, now: datetime) -> str:
    """Why a case with this earlier history has its tier (the same latest follow-up
    `tier_for_history` decides by), in the program's time zone."""
    followed = [f for f in history if f.tried_at is not None and f.outcome is not None]
    if not followed:
        return (
            "never contacted (an earlier case closed without a visit)"
            if history
            else "never contacted"
        )
    latest = max(followed, key=lambda f: f.closed_at)
    assert latest.outcome is not None and latest.tried_at is not None
    words = _ENDED[latest.outcome].format(day=_day(latest.tried_at, zone, now))
    return words if len(followed) == 1 else f"{words} ({len(followed)} follow-ups in all)"


def short_name(identity: dict[str, Any]) -> str | None:
    first = str(identity.get("first_name") or "").strip()
    last = str(identity.get("last_name") or "").strip()
    if first and last:
        return f"{first} {last[0].upper()}."
    return first or last or None


def _area(place: Address) -> str | None:
    return " ".join(p for p in (place.city, place.zip) if p) or None


def _chunks(values: Collection[str]) -> Iterator[list[str]]:
    ordered = sorted(values)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def _names(conn: Connection, cipher: FieldCipher, items: Sequence[QueueItem]) -> dict[str, str]:
    people = person_records.load_identities(
        conn, cipher, [i.person_id for i in items if i.person_id]
    )
    found = {}
    for item in items:
        name = short_name(people.get(item.person_id or "", {}))
        if name:
            found[item.case_id] = name
    return found


def _scene_areas(
    conn: Connection, cipher: FieldCipher, case_ids: Collection[str]
) -> dict[str, str]:
    """Case id -> the area of its latest report's scene that names one."""
    found: dict[str, str] = {}
    for chunk in _chunks(case_ids):
        rows = conn.execute(
            select(
                events.c.case_id,
                events.c.source,
                events.c.agency_id,
                events.c.event_id,
                events.c.scene_sealed,
            )
            .where(events.c.case_id.in_(chunk), events.c.scene_sealed.is_not(None))
            .order_by(events.c.occurred_at.desc(), events.c.id.desc())
        )
        for r in rows:
            if r.case_id not in found:
                key = stored_event_key(r.source, r.agency_id, r.event_id)
                area = _area(person_records.open_scene(cipher, key, r.scene_sealed))
                if area:
                    found[r.case_id] = area
    return found


def _home_areas(
    conn: Connection, cipher: FieldCipher, person_ids: Collection[str]
) -> dict[str, str]:
    """Person id -> the area of their latest residence that names one."""
    found: dict[str, str] = {}
    for chunk in _chunks(person_ids):
        rows = conn.execute(
            select(person_addresses.c.person_id, person_addresses.c.address_sealed)
            .where(person_addresses.c.person_id.in_(chunk))
            .order_by(person_addresses.c.observed_at.desc(), person_addresses.c.id.desc())
        )
        for person_id, sealed in rows:
            if person_id not in found:
                # sealed as person_records.add_addresses seals it
                opened = cipher.open(sealed, f"person_addresses:{person_id}")
                area = _area(Address.model_validate_json(opened))
                if area:
                    found[person_id] = area
    return found


def _areas(conn: Connection, cipher: FieldCipher, items: Sequence[QueueItem]) -> dict[str, str]:
    found = _scene_areas(conn, cipher, [i.case_id for i in items])
    homeless = [i for i in items if i.case_id not in found and i.person_id]
    homes = _home_areas(conn, cipher, {i.person_id for i in homeless if i.person_id})
    for item in homeless:
        if item.person_id in homes:
            found[item.case_id] = homes[item.person_id]
    return found


def follow_ups(conn: Connection, person_ids: Collection[str]) -> dict[str, list[FollowUp]]:
    """Person id -> their closed cases (merged ones left out, as the tier leaves them)."""
    closed: list[Any] = []
    for chunk in _chunks(person_ids):
        closed += conn.execute(
            select(cases.c.id, cases.c.person_id, cases.c.closed_at, cases.c.outcome).where(
                cases.c.person_id.in_(chunk), cases.c.status == CaseStatus.CLOSED.value
            )
        ).all()
    closed = [r for r in closed if r.outcome != MERGED_INTO]
    tried: dict[str, dict[str, datetime]] = defaultdict(dict)  # case -> result -> last at
    for chunk in _chunks([r.id for r in closed]):
        rows = conn.execute(
            select(attempts.c.case_id, attempts.c.result, func.max(attempts.c.at).label("at"))
            .where(attempts.c.case_id.in_(chunk))
            .group_by(attempts.c.case_id, attempts.c.result)
        )
        for r in rows:
            tried[r.case_id][r.result] = r.at
    found: dict[str, list[FollowUp]] = defaultdict(list)
    for r in closed:
        results = tried.get(r.id, {})
        at = results.get(r.outcome) or max(results.values(), default=None)
        outcome = VisitResult(r.outcome) if r.outcome else None
        found[r.person_id].append(FollowUp(r.id, r.closed_at, outcome, at))
    return found


def _reasons(
    conn: Connection, items: Sequence[QueueItem], zone: ZoneInfo, now: datetime
) -> dict[str, str]:
    histories = follow_ups(conn, {i.person_id for i in items if i.person_id})
    found = {}
    for item in items:
        history = histories.get(item.person_id or "", [])
        mine = next((f for f in history if f.case_id == item.case_id), None)
        earlier = [  # a closed case took its tier from what had closed before it
            f for f in history
            if f.case_id != item.case_id and (mine is None or f.closed_at <= mine.closed_at)
        ]  # fmt: skip
        found[item.case_id] = reason_in_words(earlier, zone, now)
        if item.next_checkin_at is not None:  # engaged: the history no longer says why
            found[item.case_id] = engaged_reason(item.next_checkin_at, zone, now)
        if item.kind == "family_support":  # no client: a death is why
            found[item.case_id] = family_reason(item.occurred_at, zone)
    return found


def with_people(
    conn: Connection,
    cipher: FieldCipher,
    page: QueuePage,
    who: Principal,
    program_id: str,
    *,
    include: Collection[str],
    zone: str,
    now: datetime,
) -> QueuePage:
    """`page` with what `include` asks (of INCLUDES) and `who` may see filled in; the read
    is audited (one row naming the case ids). Call inside a transaction."""
    person = "person" in include and who.can(program_id, Capability.VIEW_PERSON)
    reasons = "tier_reason" in include and who.can(program_id, Capability.VIEW_CLINICAL)
    if not page.items or not (person or reasons):
        return page
    names = _names(conn, cipher, page.items) if person else {}
    areas = _areas(conn, cipher, page.items) if person else {}
    why = _reasons(conn, page.items, ZoneInfo(zone), now) if reasons else {}
    items = [
        i.model_copy(
            update={
                "name": names.get(i.case_id),
                "area": areas.get(i.case_id),
                "tier_reason": why.get(i.case_id),
            }
        )
        for i in page.items
    ]
    audit(
        conn, now, who.actor, AUDIT_ACTION, "program", program_id,
        {"cases": sorted(i.case_id for i in items), "person": person, "tier_reason": reasons},
    )  # fmt: skip
    return page.model_copy(update={"items": items})


def read_queue_people(
    store: Store,
    cipher: FieldCipher,
    program_id: str,
    filters: QueueFilters,
    who: Principal,
    *,
    include: Collection[str],
    limit: int,
    offset: int,
    zone: str,
    now: datetime,
) -> QueuePage:
    """A page of the queue with `include` filled in as `who` may see it, cut by role;
    read and audited in one transaction."""
    with store.transaction() as conn:
        page = queue_page(conn, program_id, filters, limit=limit, offset=offset, now=now)
        page = with_people(conn, cipher, page, who, program_id, include=include, zone=zone,
                           now=now)  # fmt: skip
    return redact(page, who, program_id)


def tier_counts(conn: Connection, program_id: str, filters: QueueFilters) -> dict[Tier, int]:
    """How many cases of each tier match the filters (whatever tier they ask for)."""
    query = select(cases.c.tier, func.count().label("n")).select_from(cases)
    rows = conn.execute(
        _filtered(query, program_id, replace(filters, tiers=())).group_by(cases.c.tier)
    )
    found = {t: 0 for t in Tier}
    for tier, n in rows:
        found[Tier(tier)] = n
    return found


def owners_of_open_cases(conn: Connection, program_id: str) -> list[str]:
    """The usernames of the members who own open cases of the program, sorted."""
    ids = conn.execute(
        select(cases.c.owner_user_id)
        .where(
            and_(
                cases.c.program_id == program_id,
                cases.c.status == CaseStatus.OPEN.value,
                cases.c.owner_user_id.is_not(None),
            )
        )
        .distinct()
    ).scalars()
    return sorted(usernames(conn, list(ids)).values())

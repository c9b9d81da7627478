"""The work queue's reads: filters, pages, and one case as a role may see it.

Queue rows carry no personal data (ids, tiers, times, owner). A case's detail
opens sealed data only for a role that may see it, and every such read is
written to the audit log in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, func, or_, select

from schemas.case_views import (
    AddressView,
    PersonView,
)
from schemas.cases import (
    TIER_RANK,
    CaseKind,
    CaseStatus,
    EventRef,
    QueueItem,
    QueuePage,
    ReferralKind,
    ShiftPlan,
    Tier,
)
from services.cases.engagement_rules import next_checkin_of
from services.core.priority import PRIORITY_COLUMNS
from services.crypto.fields import FieldCipher
from services.store import person_records
from services.store.case_records import event_refs, planned_of
from services.store.contact_records import needing_contact
from services.store.tables import UTCDateTime, attempts, cases, persons
from services.store.user_reads import usernames


@dataclass(frozen=True)
class QueueFilters:
    tiers: tuple[Tier, ...] = ()
    status: CaseStatus | None = CaseStatus.OPEN
    team_id: str | None = None  # planned for, or assigned to, this team
    at_risk: bool | None = None
    missed: bool | None = None
    callback_requested: bool | None = None
    owner_id: str | None = None  # a user id; "" means: nobody owns it


def _filtered(query: Select[Any], program_id: str, f: QueueFilters) -> Select[Any]:
    conds = [cases.c.program_id == program_id]
    if f.status is not None:
        conds.append(cases.c.status == f.status.value)
    if f.tiers:  # by rank too, so the queue index (program, status, tier_rank, ...) serves it
        # engaged and family-support cases: their rank is the program's ([program.queue],
        # [program.family_support])
        if not {Tier.ENGAGED, Tier.FAMILY_SUPPORT} & set(f.tiers):
            conds.append(cases.c.tier_rank.in_([TIER_RANK[t] for t in f.tiers]))
        conds.append(cases.c.tier.in_([t.value for t in f.tiers]))
    if f.team_id is not None:
        conds.append(
            or_(cases.c.planned_team_id == f.team_id, cases.c.assigned_team_id == f.team_id)
        )
    if f.at_risk is not None:
        at_risk = cases.c.at_risk_reason.is_not(None)
        conds.append(at_risk if f.at_risk else cases.c.at_risk_reason.is_(None))
    if f.missed is not None:
        conds.append(cases.c.missed_at.is_not(None) if f.missed else cases.c.missed_at.is_(None))
    if f.callback_requested is not None:
        flag = cases.c.callback_requested_at
        conds.append(flag.is_not(None) if f.callback_requested else flag.is_(None))
    if f.owner_id is not None:
        owner = cases.c.owner_user_id
        conds.append(owner.is_(None) if f.owner_id == "" else owner == f.owner_id)
    return query.where(and_(*conds))


def in_priority_order(table: Any) -> list[Any]:
    """The ORDER BY of the QRT priority order (services/core/priority.py)."""
    return [table.c[name] for name in PRIORITY_COLUMNS]


def queue_page(
    conn: Connection,
    program_id: str,
    filters: QueueFilters,
    *,
    limit: int,
    offset: int = 0,
    now: datetime | None = None,
) -> QueuePage:
    """Cases in QRT priority order (tier, earliest due, earliest occurrence); planned
    visits as seen at `now` (see `planned_of`)."""
    total = conn.execute(
        _filtered(select(func.count()).select_from(cases), program_id, filters)
    ).scalar_one()
    page = (
        _filtered(select(cases), program_id, filters)
        .order_by(*in_priority_order(cases))
        .limit(limit)
        .offset(offset)
        .subquery()
    )
    tried = (  # per row of the page, through the attempts' (case_id, attempt_no) index
        select(func.count())
        .select_from(attempts)
        .where(attempts.c.case_id == page.c.id)
        .scalar_subquery()
    )
    rows = conn.execute(select(page, tried.label("n")).order_by(*in_priority_order(page))).all()
    ids = [r.id for r in rows]
    refs = event_refs(conn, ids)
    owners = usernames(conn, [r.owner_user_id for r in rows])
    needing = needing_contact(conn, rows)
    return QueuePage(
        total=total, items=[_item(r, refs.get(r.id, []), owners, now, needing) for r in rows]
    )


def _item(
    r: Any,
    refs: list[EventRef],
    owners: dict[str, str],
    now: datetime | None,
    needing: set[str] | None = None,
) -> QueueItem:
    return QueueItem(
        case_id=r.id,
        program_id=r.program_id,
        tier=Tier(r.tier),
        status=CaseStatus(r.status),
        occurred_at=r.occurred_at,
        window_opens_at=r.window_opens_at,
        window_due_at=r.window_due_at,
        person_id=r.person_id,
        planned=planned_of(r, now),
        at_risk_reason=r.at_risk_reason,
        missed=r.missed_at is not None,
        attempts=r.n or 0,
        callback_requested=r.callback_requested_at is not None,
        phone_invalid=r.phone_invalid_at is not None,
        possible_death=r.possible_death_at is not None,
        contact_needed=r.id in (needing or ()),
        events=refs,
        kind=CaseKind(r.kind),
        referral_kind=ReferralKind(r.referral_kind) if r.referral_kind else None,  # cut: redact
        version=r.version,
        owner=owners.get(r.owner_user_id) if r.owner_user_id else None,
        assigned_team_id=r.assigned_team_id,
        assigned_shift_start=r.assigned_shift_start,
        next_checkin_at=next_checkin_of(r),
    )


def shift_plans(
    conn: Connection,
    program_id: str,
    *,
    team_id: str | None,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> list[ShiftPlan]:
    """Open cases planned (or assigned) for shifts starting in [start, end), by shift."""
    team = func.coalesce(cases.c.assigned_team_id, cases.c.planned_team_id)
    shift = func.coalesce(cases.c.assigned_shift_start, cases.c.planned_shift_start)
    conds = [
        cases.c.program_id == program_id,
        cases.c.status == CaseStatus.OPEN.value,
        team.is_not(None),
        shift >= start,
        shift < end,
    ]
    if team_id is not None:
        conds.append(team == team_id)
    tried = (
        select(attempts.c.case_id, func.count().label("n")).group_by(attempts.c.case_id).subquery()
    )
    rows = conn.execute(
        select(cases, tried.c.n, team.label("plan_team"), shift.label("plan_shift"))
        .outerjoin(tried, tried.c.case_id == cases.c.id)
        .where(and_(*conds))
        .order_by(team, shift, cases.c.tier_rank, cases.c.planned_visit_from, cases.c.id)
    ).all()
    refs = event_refs(conn, [r.id for r in rows])
    owners = usernames(conn, [r.owner_user_id for r in rows])
    plans: dict[tuple[str, datetime], list[QueueItem]] = {}
    for r in rows:
        shift_at = UTCDateTime().process_result_value(r.plan_shift, conn.dialect)
        assert shift_at is not None
        plans.setdefault((r.plan_team, shift_at), []).append(
            _item(r, refs.get(r.id, []), owners, now)
        )
    return [ShiftPlan(team_id=t, shift_start=s, items=items) for (t, s), items in plans.items()]


def storable_id(value: str) -> bool:
    """No stored id holds a NUL character; PostgreSQL refuses one even in a WHERE."""
    return "\x00" not in value


def program_of_case(conn: Connection, case_id: str) -> str | None:
    if not storable_id(case_id):
        return None
    row = conn.execute(select(cases.c.program_id).where(cases.c.id == case_id)).first()
    return None if row is None else str(row.program_id)


def person_view(conn: Connection, cipher: FieldCipher, person_id: str) -> PersonView | None:
    row = conn.execute(select(persons).where(persons.c.id == person_id)).first()
    if row is None:
        return None
    identity = person_records.open_identity(cipher, person_id, row.identity_sealed)
    addresses = [
        AddressView(
            address=a.address,
            address2=a.address2,
            city=a.city,
            state=a.state,
            zip=a.zip,
            source=src,
            observed_at=at,
        )
        for a, src, at in person_records.addresses_of(conn, cipher, person_id)
    ]
    phone = identity.get("phone")
    return PersonView(
        person_id=person_id,
        first_name=identity.get("first_name"),
        middle_name=identity.get("middle_name"),
        last_name=identity.get("last_name"),
        dob=identity.get("dob"),
        age=identity.get("age"),
        phone=phone,
        phones=identity.get("phones") or ([phone] if phone else []),
        language=identity.get("language"),
        addresses=addresses,
    )

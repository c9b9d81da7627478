"""Staying engaged: a member sets a contacted client's next check-in (or a cadence), or
ends the engagement without closing the case. Each change is one transaction with its
audit row and its case event (`engaged`, `engagement_ended`), and asks for a new plan.

While engaged, the case is in the tier `engaged` (its rank from `[program.queue]`), its
window is the next check-in's (services/cases/checkins.py), it is never re-tiered by
the person's history and never marked missed (services/cases/timers.py): it closes only
by an outcome, the client's wish (opted out) included. Ending the engagement gives the
case its tier from the person's history again and keeps its window as it was."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update

from schemas.cases import TIER_RANK, CaseEventKind, Tier
from services.cases.checkins import checkin_values
from services.cases.engagement_rules import (
    CheckinRefused,
    EngagedSettings,
    QueueSettings,
    first_checkin,
)
from services.cases.tiering import OtherHistoryTiers, tier_for_history
from services.cases.visits import VisitRecordError, open_case_for_change
from services.programs import Program
from services.store.case_records import announce, audit, history_of, request_plan
from services.store.repository import Store
from services.store.tables import cases


class NotContacted(VisitRecordError):
    def __init__(self, case_id: str) -> None:
        super().__init__(
            f"case {case_id} has no contact with the client yet: record a contacted attempt "
            "first; only a client the team has reached can stay engaged"
        )


class CheckinOutOfRange(VisitRecordError):
    """The next check-in or the cadence cannot be kept (the reason says why)."""


@dataclass(frozen=True)
class Engagement:
    case_id: str
    engaged: bool
    next_checkin_at: datetime | None
    every_days: int | None
    version: int


def set_engagement(
    store: Store,
    case_id: str,
    *,
    next_checkin_at: datetime | None,
    every_days: int | None,
    program: Program | None,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
) -> Engagement:
    """The case stays engaged with this next check-in (the date given, else `every_days`
    from now) and cadence; set again, the check-in and cadence are replaced."""
    engaged = program.engaged if program else EngagedSettings()
    queue = program.queue if program else QueueSettings()
    try:
        first = first_checkin(now, next_checkin_at, every_days)
    except CheckinRefused as exc:
        raise CheckinOutOfRange(str(exc)) from exc
    with store.transaction() as conn:
        row = open_case_for_change(conn, case_id, expected_version)
        if row.first_contact_at is None:
            raise NotContacted(case_id)
        conn.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(
                **checkin_values(first, engaged.checkin_due),
                engaged_at=row.engaged_at or now,
                checkin_every_days=every_days,
                tier=Tier.ENGAGED.value,
                tier_rank=queue.rank(Tier.ENGAGED),
                updated_at=now,
                version=cases.c.version + 1,
            )
        )
        detail: dict[str, str | int | float | None] = {
            "next_checkin_at": first.isoformat(),
            "every_days": every_days,
        }
        if row.tier != Tier.ENGAGED.value:
            detail["previous"] = row.tier
        announce(conn, case_id, CaseEventKind.ENGAGED, now, detail)
        audit(conn, now, actor, "engagement_set", "case", case_id, dict(detail))
        request_plan(conn, [row.program_id], now)
    return Engagement(case_id, True, first, every_days, int(row.version) + 1)


def end_engagement(
    store: Store,
    case_id: str,
    *,
    program: Program | None,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
) -> Engagement:
    """No more check-ins: the case stays open, takes its tier from the person's history
    again and keeps its window. A case not engaged is left as it is."""
    rules = program.tiers if program else OtherHistoryTiers()
    with store.transaction() as conn:
        row = open_case_for_change(conn, case_id, expected_version)
        if row.engaged_at is None:
            return Engagement(case_id, False, None, None, int(row.version))
        history = history_of(conn, [row.person_id], exclude_case=case_id) if row.person_id else {}
        tier = tier_for_history(history.get(row.person_id or "", []), rules)
        conn.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(
                engaged_at=None,
                next_checkin_at=None,
                checkin_every_days=None,
                tier=tier.value,
                tier_rank=TIER_RANK[tier],
                updated_at=now,
                version=cases.c.version + 1,
            )
        )
        detail: dict[str, str | int | float | None] = {"previous": row.tier}
        announce(conn, case_id, CaseEventKind.ENGAGEMENT_ENDED, now, detail)
        audit(conn, now, actor, "engagement_ended", "case", case_id, dict(detail))
        request_plan(conn, [row.program_id], now)
    return Engagement(case_id, False, None, None, int(row.version) + 1)

"""Staying engaged (pure: no I/O, the clock passed in).

A client the team has reached may stay in touch as long as they want: the case stays
open in the tier `engaged`, with a next check-in that the planner treats like a visit
window, [next check-in, next check-in + `checkin_due_hours`), and, when the team set a
cadence, a check-in that moves N days past each contact. Only an outcome (opted out
included) closes it; no timer does.

Program settings: `[program.engaged] checkin_due_hours` (default 72) and
`[program.queue] engaged_rank`, where engaged cases stand in the queue's order (default
3: below new, unlocated and deferred; TIER_RANK)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from schemas.cases import TIER_RANK, CaseStatus, Tier

MAX_EVERY_DAYS = 365
MAX_AHEAD = timedelta(days=366)  # the planner expands shifts up to the latest due time


class QueueSettings(BaseModel):
    """`[program.queue]`: where the tiers beyond the QRT three stand in the queue's order
    (0 first; a rank may be shared, the earliest due time then goes first)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engaged_rank: Annotated[int, Field(ge=0, le=99)] = TIER_RANK[Tier.ENGAGED]

    def rank(self, tier: Tier) -> int:
        return self.engaged_rank if tier is Tier.ENGAGED else TIER_RANK[tier]


class EngagedSettings(BaseModel):
    """`[program.engaged]`: an engaged client's check-ins."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # a check-in is due this long after it opens (like a visit window's due time)
    checkin_due_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 72

    @property
    def checkin_due(self) -> timedelta:
        return timedelta(hours=self.checkin_due_hours)


class CheckinRefused(ValueError):
    """A next check-in or cadence that cannot be kept, with the reason."""


def first_checkin(
    now: datetime, next_checkin_at: datetime | None, every_days: int | None
) -> datetime:
    """When the next check-in is: the date given, else `every_days` from now."""
    if next_checkin_at is None and every_days is None:
        raise CheckinRefused("give the next check-in (next_checkin_at) or a cadence (every_days)")
    if every_days is not None and not 1 <= every_days <= MAX_EVERY_DAYS:
        raise CheckinRefused(f"every_days is from 1 to {MAX_EVERY_DAYS}")
    at = next_checkin_at if next_checkin_at is not None else now + timedelta(days=every_days or 0)
    if at.tzinfo is None or at.utcoffset() is None:
        raise CheckinRefused("next_checkin_at needs a UTC offset")
    if at <= now:
        raise CheckinRefused("the next check-in must be later than now")
    if at - now > MAX_AHEAD:
        raise CheckinRefused("the next check-in must be within a year")
    return at


def next_after_contact(at: datetime, every_days: int, now: datetime) -> datetime:
    """The check-in after a contact at `at`: `every_days` later, or as many cadences
    later as it takes to be after `now` (a contact recorded late)."""
    step = timedelta(days=every_days)
    steps = 1 if at + step > now else (now - at) // step + 1
    return at + steps * step


def engaged_reason(next_checkin_at: datetime, zone: ZoneInfo, now: datetime) -> str:
    """Why the case is in the engaged tier, in words (the queue's tier reason)."""
    local = next_checkin_at.astimezone(zone)
    day = f"{local.month}/{local.day}"
    if local.year != now.astimezone(zone).year:
        day += f"/{local.year}"
    return f"staying in touch: next check-in on {day}"


def next_checkin_of(row: Any) -> datetime | None:
    """A case row's next check-in as shown: only while the case is open and engaged."""
    if row.status != CaseStatus.OPEN.value or row.engaged_at is None:
        return None
    value: datetime | None = row.next_checkin_at
    return value


def engagement_fields(row: Any) -> dict[str, Any]:
    """What a case's detail says of its engagement (CaseDetail's fields)."""
    engaged = row.engaged_at is not None and row.status == CaseStatus.OPEN.value
    return {
        "engaged": engaged,
        "engaged_at": row.engaged_at,
        "next_checkin_at": next_checkin_of(row),
        "checkin_every_days": row.checkin_every_days if engaged else None,
        "first_contact_at": row.first_contact_at,
    }

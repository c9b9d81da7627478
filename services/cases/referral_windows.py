"""`[program.referrals]`: when the team should reach a referred person, per kind of
referral, instead of the overdose's 12 to 72 hours. A walk-in is served now; the person
who asked for help themselves, their family or a friend within a day; a provider within
two days; a court within three. `urgency_due_hours` is how soon the referrer's urgency
asks for (a referral is never due later than its kind's window; an urgency that is
sooner opens the window at once). Pure: read by services/core/referrals.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.cases import ReferralKind
from schemas.referral_event import Urgency
from services.planning.window_hours import VisitWindow


class KindWindow(VisitWindow):
    """Hours after the referral: when a visit may start, when it is due."""

    opens_after_hours: Annotated[float, Field(ge=0)] = 0
    due_after_hours: Annotated[float, Field(gt=0)] = 24


def _within(hours: float) -> KindWindow:
    return KindWindow(opens_after_hours=0, due_after_hours=hours)


class UrgencyHours(BaseModel):
    """Hours after the referral by which each urgency asks for a visit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    now: Annotated[float, Field(gt=0)] = 4
    today: Annotated[float, Field(gt=0)] = 24
    this_week: Annotated[float, Field(gt=0)] = 7 * 24

    def due_after(self, urgency: Urgency) -> timedelta:
        return timedelta(hours=float(getattr(self, urgency.value)))


class ReferralWindows(BaseModel):
    """`[program.referrals]`: one window per kind (`walk_in = { opens_after_hours = 0,
    due_after_hours = 4 }`), and `[program.referrals.urgency_due_hours]`."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    self_referral: KindWindow = Field(default_factory=lambda: _within(24), alias="self")
    family: KindWindow = Field(default_factory=lambda: _within(24))
    friend: KindWindow = Field(default_factory=lambda: _within(24))
    walk_in: KindWindow = Field(default_factory=lambda: _within(4))
    provider: KindWindow = Field(default_factory=lambda: _within(48))
    hospital: KindWindow = Field(default_factory=lambda: _within(24))
    court: KindWindow = Field(default_factory=lambda: _within(72))
    other: KindWindow = Field(default_factory=lambda: _within(72))
    urgency_due_hours: UrgencyHours = Field(default_factory=UrgencyHours)

    def window_for(self, kind: ReferralKind) -> KindWindow:
        window: KindWindow = getattr(
            self, "self_referral" if kind is ReferralKind.SELF else kind.value
        )
        return window

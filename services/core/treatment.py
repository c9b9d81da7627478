"""A referral to treatment, from `referred` to confirmed: its states and the moves allowed.

    referred ──> entered ──> retained_30d ──> retained_90d
        └──> declined
        └──> no_show

Only these forward moves, one step at a time: a referral that was `referred` may be
`entered`, `declined` or `no_show`; `entered` may become `retained_30d`, which may
become `retained_90d`; `retained_90d`, `declined` and `no_show` are final. Each move
has its date, which may not be in the future (beyond a few minutes of clock skew), nor
before the date of the state it leaves (to the minute: a time given in that same minute,
as a page's form gives it, is taken as that moment); `retained_30d` is at least 30 days after
`entered`, `retained_90d` at least 90. Asking for the state the referral is already in
changes nothing (a provider's retry is no error). Everything else is refused with the
reason, in words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.engagement_views import TreatmentState

S = TreatmentState
NEXT: dict[TreatmentState, tuple[TreatmentState, ...]] = {
    S.REFERRED: (S.ENTERED, S.DECLINED, S.NO_SHOW),
    S.ENTERED: (S.RETAINED_30D,),
    S.RETAINED_30D: (S.RETAINED_90D,),
    S.RETAINED_90D: (),
    S.DECLINED: (),
    S.NO_SHOW: (),
}
# the column of `treatment_referrals` that keeps each state's date
DATE_OF: dict[TreatmentState, str] = {
    S.REFERRED: "referred_at",
    S.ENTERED: "entered_at",
    S.RETAINED_30D: "retained_30d_at",
    S.RETAINED_90D: "retained_90d_at",
    S.DECLINED: "ended_at",
    S.NO_SHOW: "ended_at",
}
# how long after entering treatment a retention can be confirmed
RETAINED_AFTER: dict[TreatmentState, timedelta] = {
    S.RETAINED_30D: timedelta(days=30),
    S.RETAINED_90D: timedelta(days=90),
}
CLOCK_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class Dates:
    """The dates a referral has so far."""

    referred_at: datetime
    entered_at: datetime | None = None
    retained_30d_at: datetime | None = None
    retained_90d_at: datetime | None = None
    ended_at: datetime | None = None

    def of(self, state: TreatmentState) -> datetime | None:
        value: datetime | None = getattr(self, DATE_OF[state])
        return value


@dataclass(frozen=True)
class Move:
    """A move allowed: set `column` to `at` and the state to `to`."""

    to: TreatmentState
    column: str
    at: datetime


@dataclass(frozen=True)
class Unchanged:
    """The referral is already in that state: nothing to do."""

    state: TreatmentState


@dataclass(frozen=True)
class Refused:
    reason: str


def _words(state: TreatmentState) -> str:
    return state.value.replace("_", " ")


def allowed_from(state: TreatmentState) -> str:
    """The moves allowed from `state`, in words (for a refusal)."""
    nexts = NEXT[state]
    if not nexts:
        return f"{_words(state)} is final"
    return f"from {_words(state)} only to " + " or ".join(_words(s) for s in nexts)


def decide(
    current: TreatmentState, dates: Dates, to: TreatmentState, at: datetime, now: datetime
) -> Move | Unchanged | Refused:
    """Whether a referral in `current` may move to `to` on `at` (see the module doc)."""
    if to is current:
        return Unchanged(current)
    if to not in NEXT[current]:
        return Refused(
            f"a referral {_words(current)} cannot become {_words(to)}: {allowed_from(current)}"
        )
    if at > now + CLOCK_SKEW:
        return Refused(f"{_words(to)} on {at:%Y-%m-%d %H:%M} UTC is in the future")
    since = dates.of(current)
    if since is not None and at < since.replace(second=0, microsecond=0):
        return Refused(
            f"{_words(to)} on {at:%Y-%m-%d %H:%M} UTC is before it was {_words(current)} "
            f"({since:%Y-%m-%d %H:%M} UTC)"
        )
    wait = RETAINED_AFTER.get(to)
    if wait is not None and dates.entered_at is not None and at < dates.entered_at + wait:
        return Refused(
            f"{_words(to)} needs {wait.days} days in treatment: entered on "
            f"{dates.entered_at:%Y-%m-%d}, so not before {dates.entered_at + wait:%Y-%m-%d}"
        )
    # a time to the minute (a page's form) in the minute of the last step: that moment
    return Move(to=to, column=DATE_OF[to], at=max(at, since) if since is not None else at)

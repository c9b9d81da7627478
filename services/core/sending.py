"""Whether a queued text may go now, pure: the facts the dispatcher read for it (its
program, its consent, a death, its case) and the clock in, a verdict out. Checked at
every claim and again just before a text claimed a while ago goes
(services/sms/dispatch.py), so a change after a text was queued still counts.

In order: texts off for the program, more than STALE_AFTER late, no consent (the latest
word for that phone in that program), a fatal report of the person naming that phone,
the case's phone marked invalid, the case merged into another, the case closed with an
outcome that stops texts: cancelled with that reason. Otherwise quiet hours in the
recipient's zone defer it to the next permitted minute; it is never dropped for them.
The backoff of a retried send is here too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from schemas.cases import MERGED_INTO, visit_outcome
from services.programs import Program
from services.sms.recipient_time import is_permitted, next_permitted, sending_hours

STALE_AFTER = timedelta(hours=24)  # a text this late is not sent at all


@dataclass(frozen=True)
class TextFacts:
    """One queued text and what is known of it at the moment of the check."""

    program: Program | None
    due_at: datetime
    zone: str  # the recipient's IANA zone
    state_code: str | None  # the recipient's US state, for its sending hours
    consent: bool  # the latest word for this phone in this program is a yes
    died: bool  # a fatal report of this person names this phone
    phone_invalid: bool  # the case's phone was marked invalid
    case_outcome: str | None  # the case's stored outcome (None: open, or no case)


@dataclass(frozen=True)
class Verdict:
    cancel: str | None = None  # why the text must never go
    later: datetime | None = None  # when it may go, if not now

    @property
    def go(self) -> bool:
        return self.cancel is None and self.later is None


def send_verdict(facts: TextFacts, now: datetime) -> Verdict:
    """Go, cancel (with the reason) or defer (to when) (module doc)."""
    reason = why_not(facts, now)
    if reason is not None:
        return Verdict(cancel=reason)
    zone, hours = ZoneInfo(facts.zone), sending_hours(facts.state_code)
    if not is_permitted(now, zone, hours):
        return Verdict(later=next_permitted(now, zone, hours))
    return Verdict()


def why_not(facts: TextFacts, now: datetime) -> str | None:
    """Why the text must never go, or None."""
    program = facts.program
    if program is None or not program.sms.enabled:
        return "texts are off for this program"
    if now - facts.due_at > STALE_AFTER:
        return "more than 24 h late"
    if not facts.consent:
        return "no consent"
    if facts.died:
        return "the person died"
    if facts.phone_invalid:
        return "phone marked invalid"
    if facts.case_outcome == MERGED_INTO:
        return "case merged into another"
    outcome = visit_outcome(facts.case_outcome)
    if program.sms.stops_texts(outcome):
        return f"case closed: {outcome}"
    return None


def retry_delay_s(
    tries: int, first_s: float, max_s: float, retry_after_s: float | None, jitter: float
) -> float:
    """Exponential backoff from `first_s`, at most `max_s`, times a jitter in [0.5, 1.5)
    (`jitter` in [0, 1)), never sooner than the sender's Retry-After."""
    backoff = min(max_s, first_s * 2 ** (tries - 1))
    return max(backoff * (0.5 + jitter), retry_after_s or 0.0)

"""Whose personal data goes, and when the nightly run is due (pure: no I/O).

A subject is a person, or a case that has none (a report without a patient's identity).
Its personal data goes when every case of it is closed (a person's: also the cases of
their reports that belong to someone else now, after a review unlinked a report), no
text of it is still to be sent or settled, and the last thing the program learned of it
(a case closed or changed, a report recorded, the person's record made or changed) is
older than the cutoff (`personal_data_years` before now). A subject purged before is
looked at again only if something of it changed after that purge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo

NIGHT_RUN_AT = time(3, 0)  # program-local


class Verdict(StrEnum):
    PURGE = "purge"
    OPEN = "open"  # a case still open, or a text still to send: kept
    RECENT = "recent"  # closed, but not that long ago: kept
    DONE = "done"  # purged before, nothing of it since


@dataclass(frozen=True)
class CaseFacts:
    id: str
    closed: bool  # status closed, with its closing time
    last_at: datetime  # the latest of its closing, its last change and its reports
    text_pending: bool  # a text queued, being sent or checked


@dataclass(frozen=True)
class SubjectFacts:
    kind: str  # person | case
    id: str
    since: datetime  # the subject's own record: made or last changed
    last_report_at: datetime | None
    cases: Sequence[CaseFacts]  # its own: purged with it
    purged_at: datetime | None
    # cases of its reports owned by another subject: they keep it while open or recent,
    # but go with their own subject
    report_cases: Sequence[CaseFacts] = ()

    @property
    def case_ids(self) -> list[str]:
        return [c.id for c in self.cases]

    @property
    def last_at(self) -> datetime:
        times = [self.since, *(c.last_at for c in (*self.cases, *self.report_cases))]
        if self.last_report_at is not None:
            times.append(self.last_report_at)
        return max(times)


def verdict(facts: SubjectFacts, cutoff: datetime) -> Verdict:
    if any(not c.closed or c.text_pending for c in (*facts.cases, *facts.report_cases)):
        return Verdict.OPEN
    last = facts.last_at
    if last >= cutoff:
        return Verdict.RECENT
    if facts.purged_at is not None and last <= facts.purged_at:
        return Verdict.DONE
    return Verdict.PURGE


def night_run_day(now: datetime, zone: ZoneInfo) -> date | None:
    """The program-local day whose nightly run may start now: today from 03:00 program
    time on (None before it). The store lets each day's run be claimed once, so a day
    whose 03:00 passed while no timer worker ran is caught up when one starts."""
    local = now.astimezone(zone)
    return local.date() if local.time() >= NIGHT_RUN_AT else None

"""The case engine's decision for a referral, pure (the overdose reports' own is
services/core/cases.py, whose verdicts it returns).

A referral is never an overdose: it is never fatal, never the same incident as a report
and never a repeat overdose. For each referral, in order:
- older than the program's `max_event_age_days`: history only;
- its person has an open case (known, or opened earlier in the batch): it joins that
  case (`referral`), whose window stays as it is;
- else it opens a case with the tier of the person's history (Huntington's rule, as any
  case) and the window of its kind (`[program.referrals]`), sooner when its urgency asks
  for it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.cases import CaseEvent, CaseKind, ReferralKind, Tier
from schemas.referral_event import ReferralEvent, Urgency
from services.cases.referral_windows import ReferralWindows
from services.cases.tiering import tier_for_history
from services.core.cases import JoinCase, Known, OpenCase, Report, TooOld, Verdict, case_id_for_key
from services.planning.visit_window import Window
from services.programs import Program

REFERRAL_JOIN = "referral"  # the reason in the case event of a referral that joined a case


def referral_window(
    referred_at: datetime, kind: ReferralKind, urgency: Urgency | None, rules: ReferralWindows
) -> Window:
    """The kind's window after the referral; an urgency due sooner opens it at once and
    makes it due then (urgency never makes a referral due later than its kind's window)."""
    start = referred_at.astimezone(UTC)
    rule = rules.window_for(kind)
    opens, due = start + rule.opens_after, start + rule.due_after
    if urgency is not None:
        asked = start + rules.urgency_due_hours.due_after(urgency)
        if asked < due:
            opens, due = start, asked
    return Window(opens_at=opens, due_at=due)


def decide_referral(
    report: Report,
    kind: ReferralKind,
    urgency: Urgency | None,
    known: Known,
    program: Program,
    now: datetime,
) -> Verdict:
    """The verdict of one referral (module doc); `known` then counts the case it opened
    for the reports after it."""
    if now - report.occurred_at > program.max_event_age:
        return TooOld()
    person = report.person_id
    if person is not None:
        existing = known.open_by_person.get(person) or known.opened.get(person)
        if existing is not None:
            return JoinCase(existing[0], REFERRAL_JOIN)
    past = known.history.get(person, []) if person else []
    tier = tier_for_history(past, program.tiers) if past else Tier.NEW
    window = referral_window(report.occurred_at, kind, urgency, program.referrals)
    verdict = OpenCase(case_id_for_key(report.key), tier, window.opens_at, window.due_at)
    if person is not None:
        known.opened[person] = (verdict.case_id, report.occurred_at)
    return verdict


def referral_detail(referral: ReferralEvent | None) -> dict[str, str | int | float | None]:
    """What a case event says of the referral that opened or joined its case (the kind
    of referral is cut like clinical facts: services/accounts/redaction.py)."""
    if referral is None:
        return {}
    return {"case_kind": CaseKind.REFERRAL.value, "referral_kind": referral.kind.value}


def referral_opened(
    row: dict[str, object], opened: CaseEvent, referral: ReferralEvent
) -> CaseEvent:
    """A case a referral opens: its row says so (`kind`, `referral_kind`), and so does its
    `opened` case event."""
    row.update(kind=CaseKind.REFERRAL.value, referral_kind=referral.kind.value)
    return opened.model_copy(update={"detail": {**opened.detail, **referral_detail(referral)}})

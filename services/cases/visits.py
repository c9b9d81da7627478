"""Data collection: attempts and outcomes per case, with time and team.

An attempt records one try (its result, when, which team). An outcome closes the
case; closing updates the person's history, which sets the tier of their next
case and re-tiers any other open case of theirs. Unknown and closed cases are
refused with an error that says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, func, select, update

from schemas.cases import TIER_RANK, CaseEventKind, CaseStatus, Referral, VisitResult
from schemas.visits import PersonMet, ServiceGiven, VisitMethod
from services.cases.checkins import after_attempt
from services.cases.deaths import Death, apply_death
from services.cases.tiering import OtherHistoryTiers, tier_for_history
from services.ports import Cipher
from services.store.case_records import announce, audit, history_of, load_case, request_plan
from services.store.contact_records import active_contact
from services.store.person_records import notes_aad
from services.store.repository import Store
from services.store.tables import attempts, cases


class VisitRecordError(ValueError):
    """A visit record the store refuses, with the reason."""


class CaseNotFound(VisitRecordError):
    def __init__(self, case_id: str) -> None:
        super().__init__(f"no case {case_id!r}; check the id in the work queue")


class CaseClosed(VisitRecordError):
    def __init__(self, case_id: str, outcome: str | None) -> None:
        super().__init__(
            f"case {case_id} is closed (outcome {outcome}); record a new overdose as a new event"
        )


class ReferralMismatch(VisitRecordError):
    def __init__(self, result: VisitResult) -> None:
        if result is VisitResult.CONTACTED_ACCEPTED_TREATMENT:
            super().__init__("accepted treatment needs a referral type (--referral)")
        else:
            super().__init__(f"a referral type goes only with accepted treatment, not {result}")


class UnknownContact(VisitRecordError):
    def __init__(self, case_id: str, contact_id: int) -> None:
        super().__init__(f"case {case_id} has no contact {contact_id}; see the case's contacts")


class TimeOutOfRange(VisitRecordError):
    def __init__(self, what: str) -> None:
        super().__init__(what)


class VersionConflict(VisitRecordError):
    """The case changed since the caller read it (If-Match did not match)."""

    def __init__(self, case_id: str, current: int) -> None:
        self.current = current
        super().__init__(
            f"case {case_id} changed since you read it (now version {current}); read it again"
        )


@dataclass(frozen=True)
class VisitDetails:
    """What a visit record says beyond its result; `needs` and `barriers` are words of
    the program's vocabulary (checked by the caller), `notes` are sealed."""

    method: VisitMethod | None = None
    people_met: tuple[PersonMet, ...] = ()
    notes: str | None = None
    needs: tuple[str, ...] = ()
    barriers: tuple[str, ...] = ()
    services: tuple[ServiceGiven, ...] = field(default=())

    def columns(self, cipher: Cipher | None, case_id: str, number: int) -> dict[str, object]:
        notes = (self.notes or "").strip()
        if notes and cipher is None:
            raise ValueError("notes need the field cipher to be sealed")
        return {
            "method": self.method.value if self.method else None,
            "people_met": _words(self.people_met),
            "notes_sealed": cipher.seal(notes, notes_aad(case_id, number))
            if notes and cipher
            else None,
            "needs": _words(self.needs),
            "barriers": _words(self.barriers),
            "services": _words(self.services),
        }

    def audited(self) -> dict[str, str | int | float | None]:
        """For the audit log and the case event: the words, and of the notes only whether
        there are any (they stay sealed)."""
        return {
            "method": self.method.value if self.method else None,
            "people_met": _words(self.people_met),
            "needs": _words(self.needs),
            "barriers": _words(self.barriers),
            "services": _words(self.services),
            "notes": 1 if (self.notes or "").strip() else 0,
        }


def _words(values: tuple[str, ...]) -> str | None:
    unique = list(dict.fromkeys(str(v) for v in values))
    return " ".join(unique) or None


@dataclass(frozen=True)
class AttemptRecorded:
    case_id: str
    attempt_no: int


def _check_referral(result: VisitResult, referral: Referral | None) -> None:
    needs = result is VisitResult.CONTACTED_ACCEPTED_TREATMENT
    if needs != (referral is not None):
        raise ReferralMismatch(result)


def open_case_for_change(
    conn: Connection, case_id: str, expected_version: int | None = None
) -> Row[Any]:
    """The case, locked, if it is open and (when a version is given) unchanged."""
    row = load_case(conn, case_id, lock=True)
    if row is None:
        raise CaseNotFound(case_id)
    if expected_version is not None and row.version != expected_version:
        raise VersionConflict(case_id, row.version)
    if row.status != CaseStatus.OPEN.value:
        raise CaseClosed(case_id, row.outcome)
    return row


def record_attempt(
    store: Store,
    case_id: str,
    *,
    result: VisitResult,
    at: datetime,
    team_id: str | None,
    referral: Referral | None,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
    details: VisitDetails | None = None,
    cipher: Cipher | None = None,
    checkin_due: timedelta | None = None,
    contact_id: int | None = None,
) -> AttemptRecorded:
    """One visit attempt; it answers a call-back request, moves an engaged check-in."""
    _check_referral(result, referral)
    details = details or VisitDetails()
    if at > now:
        raise TimeOutOfRange(f"attempt time {at.isoformat()} is in the future")
    with store.transaction() as conn:
        row = open_case_for_change(conn, case_id, expected_version)
        if at < row.occurred_at:
            raise TimeOutOfRange("attempt time is before the overdose it follows up")
        if contact_id is not None and active_contact(conn, case_id, contact_id) is None:
            raise UnknownContact(case_id, contact_id)  # an attempt made to a contact of the case
        number = 1 + int(
            conn.execute(
                select(func.count()).select_from(attempts).where(attempts.c.case_id == case_id)
            ).scalar_one()
        )
        conn.execute(
            attempts.insert().values(
                case_id=case_id,
                attempt_no=number,
                at=at,
                team_id=team_id,
                result=result.value,
                referral=referral.value if referral else None,
                recorded_at=now,
                recorded_by=actor,
                contact_id=contact_id,
                **details.columns(cipher, case_id, number),
            )
        )
        changes = _attempt_changes(row, result, at, now)
        conn.execute(update(cases).where(cases.c.id == case_id).values(**changes))
        detail = {"attempt_no": number, "result": result.value, "team_id": team_id,
                  "contact_id": contact_id}  # fmt: skip
        announce(conn, case_id, CaseEventKind.ATTEMPT_RECORDED, now, detail)
        audit(conn, now, actor, "attempt_recorded", "case", case_id,
              {**detail, "at": at.isoformat(), **details.audited()})  # fmt: skip
        after_attempt(conn, row, result, at, number, actor, now, checkin_due)  # its cadence
        request_plan(conn, [row.program_id], now)
    return AttemptRecorded(case_id, number)


def _attempt_changes(row: Any, result: VisitResult, at: datetime, now: datetime) -> dict[str, Any]:
    """What an attempt changes of its case: the first attempt and contact, the call-back."""
    first_attempt = row.first_attempt_at
    first_contact = row.first_contact_at
    changes: dict[str, object] = {
        "first_attempt_at": min(first_attempt, at) if first_attempt else at,
        "callback_requested_at": None,  # the team answered: the call-back is done
        "updated_at": now,
        "version": cases.c.version + 1,
    }
    if result.is_contact:
        changes["first_contact_at"] = min(first_contact, at) if first_contact else at
    return changes


def callback_handled(
    store: Store, case_id: str, *, actor: str, now: datetime, expected_version: int | None = None
) -> int:
    """A member answered the client's call-back request another way: the flag is cleared
    (audited, announced). Returns the case's new version."""
    with store.transaction() as conn:
        row = open_case_for_change(conn, case_id, expected_version)
        if row.callback_requested_at is None:
            return int(row.version)
        conn.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(callback_requested_at=None, updated_at=now, version=cases.c.version + 1)
        )
        detail: dict[str, str | int | float | None] = {"callback": "handled"}
        announce(conn, case_id, CaseEventKind.CALLBACK_HANDLED, now, detail)
        audit(conn, now, actor, "callback_handled", "case", case_id, detail)
        return int(row.version) + 1


def record_outcome(
    store: Store,
    case_id: str,
    *,
    outcome: VisitResult,
    referral: Referral | None,
    actor: str,
    now: datetime,
    tier_rules: OtherHistoryTiers,
    expected_version: int | None = None,
) -> None:
    _check_referral(outcome, referral)
    with store.transaction() as conn:
        row = open_case_for_change(conn, case_id, expected_version)
        conn.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(
                status=CaseStatus.CLOSED.value,
                closed_at=now,
                outcome=outcome.value,
                referral=referral.value if referral else None,
                planned_team_id=None,
                planned_shift_start=None,
                planned_visit_from=None,
                planned_visit_until=None,
                at_risk_reason=None,
                updated_at=now,
                version=cases.c.version + 1,
            )
        )
        detail: dict[str, str | int | float | None] = {
            "outcome": outcome.value,
            "referral": referral.value if referral else None,
        }
        announce(conn, case_id, CaseEventKind.OUTCOME_RECORDED, now, detail)
        announce(conn, case_id, CaseEventKind.CLOSED, now)
        audit(conn, now, actor, "outcome_recorded", "case", case_id, dict(detail))
        person_id = row.person_id
        if person_id and outcome is VisitResult.DECEASED:
            # the person died: their other open cases close too, and no text goes again
            death = Death(person_id, now, "staff", "-")
            apply_death(conn, row.program_id, death, timedelta(0), now, actor=actor)
        if person_id:
            retier_person(conn, person_id, tier_rules, now)
        request_plan(conn, [row.program_id], now)


def retier_person(
    conn: Connection, person_id: str, rules: OtherHistoryTiers, now: datetime
) -> None:
    """The person's history changed: every open case of theirs takes its tier again."""
    open_cases = conn.execute(
        select(cases.c.id, cases.c.tier).where(
            cases.c.person_id == person_id,
            cases.c.status == CaseStatus.OPEN.value,
            cases.c.engaged_at.is_(None),  # an engaged case keeps its tier (engagement.py)
        )
    ).all()
    for case_id, old in open_cases:
        history = history_of(conn, [person_id], exclude_case=case_id).get(person_id, [])
        tier = tier_for_history(history, rules)
        if tier.value != old:
            conn.execute(
                update(cases)
                .where(cases.c.id == case_id)
                .values(
                    tier=tier.value,
                    tier_rank=TIER_RANK[tier],
                    updated_at=now,
                    version=cases.c.version + 1,
                )
            )
            announce(conn, case_id, CaseEventKind.TIER_CHANGED, now, {"previous": old})

"""A death stops everything: no visit, no text, ever, for a person a fatal report names.

A fatal report linked to a known person (the same matching rules as every event)
closes each open case of that person in the program whose overdose came before
the death (plus the program's `incident_merge_minutes`: reports of one incident
disagree by minutes), with the outcome `deceased`; attempts and history stay. In
the same transaction every text of the person not yet sent is cancelled, and a
consent row with the source `deceased` is written for each phone the person's
reports gave, so no text goes to that phone for that person again (the SMS
worker also checks each text just before it goes). A later overdose report of the
person with an earlier time is closed the same way when it arrives.

An uncertain match (the fatal report went to review against a person with an
open case, or it came from another source minutes apart at the same scene of an
open case) closes nothing: the case is flagged `possible_death` for a coordinator
to confirm (closes as above) or dismiss. Linking the review confirms it; keeping
it apart dismisses it.

The fatal event stays linked to its person (`events.person_id`), for the family's
follow-up. Every change is a case event and an audit row (actor `system` for the
case worker's)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, or_, select, update

from schemas.cases import CaseEventKind, CaseStatus, VisitResult
from schemas.sms import ConsentSource
from services.sms import consent as sms_consent
from services.sms.texts import cancel_texts
from services.store import case_records as records
from services.store.repository import Store
from services.store.tables import cases, events, sms_texts

SYSTEM = "system"


@dataclass(frozen=True)
class Death:
    """A fatal report linked to a person: who, when, and which report said so."""

    person_id: str
    died_at: datetime
    source: str
    event_id: str
    phone_token: str | None = None


def open_cases_before(
    conn: Connection, program_id: str, person_id: str, until: datetime
) -> list[str]:
    # Asked by person alone, the program checked here: with the program in the query
    # SQLite walks all the program's cases by time instead of the person's few.
    rows = conn.execute(
        select(cases.c.id, cases.c.program_id).where(
            and_(
                cases.c.person_id == person_id,
                cases.c.status == CaseStatus.OPEN.value,
                cases.c.occurred_at <= until,
            )
        )
    )
    return sorted(r.id for r in rows if r.program_id == program_id)


def apply_death(
    conn: Connection,
    program_id: str,
    death: Death,
    margin: timedelta,
    now: datetime,
    *,
    actor: str = SYSTEM,
) -> list[str]:
    """Close the person's open cases as deceased, cancel their texts, block their phones.
    Returns the ids of the cases closed. Call with the program locked."""
    closed = open_cases_before(conn, program_id, death.person_id, death.died_at + margin)
    detail: dict[str, str | int | float | None] = {
        "outcome": VisitResult.DECEASED.value,
        "reason": "fatal_report",
        "source": death.source,
        "event_id": death.event_id,
    }
    close_deceased(conn, closed, detail, now, actor)
    stop_texts_for(conn, program_id, death.person_id, [death.phone_token], now)
    return closed


def close_deceased(
    conn: Connection,
    case_ids: Sequence[str],
    detail: dict[str, str | int | float | None],
    now: datetime,
    actor: str,
) -> None:
    """Close open cases with the outcome `deceased` (attempts and history kept)."""
    for case_id in sorted(case_ids):
        changed = conn.execute(
            update(cases)
            .where(and_(cases.c.id == case_id, cases.c.status == CaseStatus.OPEN.value))
            .values(
                status=CaseStatus.CLOSED.value,
                closed_at=now,
                outcome=VisitResult.DECEASED.value,
                planned_team_id=None,
                planned_shift_start=None,
                planned_visit_from=None,
                planned_visit_until=None,
                at_risk_reason=None,
                possible_death_at=None,
                possible_death_event_id=None,
                updated_at=now,
                version=cases.c.version + 1,
            )
        ).rowcount
        if not changed:
            continue
        records.announce(conn, case_id, CaseEventKind.OUTCOME_RECORDED, now, detail)
        records.announce(conn, case_id, CaseEventKind.CLOSED, now, {"reason": "deceased"})
        records.audit(conn, now, actor, "case_closed_deceased", "case", case_id, dict(detail))


def stop_texts_for(
    conn: Connection,
    program_id: str,
    person_id: str,
    more_tokens: Iterable[str | None],
    now: datetime,
) -> int:
    """No text for this person again: a `deceased` consent row for every phone their
    reports gave, and every text of theirs not yet sent cancelled (in id order)."""
    tokens = {
        r.phone_token
        for r in conn.execute(
            select(events.c.program_id, events.c.phone_token).where(
                and_(events.c.person_id == person_id, events.c.phone_token.is_not(None))
            )
        )
        if r.program_id == program_id  # checked here: SQLite would walk the program's reports
    }
    tokens.update(t for t in more_tokens if t)
    sms_consent.record(
        conn,
        [
            sms_consent.consent_row(
                program_id, token, False, ConsentSource.DECEASED, now, person_id=person_id
            )
            for token in sorted(tokens)
        ],
    )
    their_cases = select(cases.c.id).where(cases.c.person_id == person_id)
    # a text to their family after the death (services/cases/family_support.py) goes on
    theirs = and_(sms_texts.c.person_id == person_id, sms_texts.c.contact_id.is_(None))
    return cancel_texts(
        conn,
        and_(
            sms_texts.c.program_id == program_id,
            or_(theirs, sms_texts.c.case_id.in_(their_cases)),
        ),
        f"case closed: {VisitResult.DECEASED.value}",  # the words the SMS worker uses too
        now,
    )


def flag_possible_death(
    conn: Connection, case_ids: Sequence[str], event_row_id: int, event_id: str, now: datetime
) -> list[str]:
    """Mark open cases as a possible death, for a coordinator to confirm; returns those
    newly flagged."""
    flagged = []
    for case_id in sorted(set(case_ids)):
        changed = conn.execute(
            update(cases)
            .where(
                and_(
                    cases.c.id == case_id,
                    cases.c.status == CaseStatus.OPEN.value,
                    cases.c.possible_death_at.is_(None),
                )
            )
            .values(
                possible_death_at=now,
                possible_death_event_id=event_row_id,
                updated_at=now,
                version=cases.c.version + 1,
            )
        ).rowcount
        if changed:
            flagged.append(case_id)
            detail = {"event_id": event_id}
            records.announce(conn, case_id, CaseEventKind.POSSIBLE_DEATH, now, detail)
            records.audit(conn, now, SYSTEM, "possible_death_flagged", "case", case_id, detail)
    return flagged


def deaths_of(conn: Connection, program_id: str, person_ids: Iterable[str]) -> list[Death]:
    """The recorded fatal reports of these persons (earliest first for each)."""
    ids = sorted(set(person_ids))
    found: list[Death] = []
    for start in range(0, len(ids), 300):
        rows = conn.execute(
            select(
                events.c.program_id,
                events.c.person_id,
                events.c.occurred_at,
                events.c.source,
                events.c.event_id,
                events.c.phone_token,
            )
            .where(
                and_(
                    events.c.fatal.is_(True),
                    events.c.person_id.in_(ids[start : start + 300]),
                )
            )
            .order_by(events.c.person_id, events.c.occurred_at)
        )
        found.extend(
            Death(r.person_id, r.occurred_at, r.source, r.event_id, r.phone_token)
            for r in rows
            if r.program_id == program_id  # checked here: in the query, SQLite would walk
        )  # the program's reports instead of the persons'
    return found


def dismiss_possible_death(
    conn: Connection, case_ids: Sequence[str], now: datetime, actor: str
) -> None:
    """The fatal report was someone else: the flag goes, the case goes on."""
    for case_id in sorted(set(case_ids)):
        changed = conn.execute(
            update(cases)
            .where(and_(cases.c.id == case_id, cases.c.possible_death_at.is_not(None)))
            .values(
                possible_death_at=None,
                possible_death_event_id=None,
                updated_at=now,
                version=cases.c.version + 1,
            )
        ).rowcount
        if changed:
            detail = {"decision": "dismissed"}
            records.announce(conn, case_id, CaseEventKind.POSSIBLE_DEATH, now, detail)
            records.audit(conn, now, actor, "possible_death_dismissed", "case", case_id, detail)


class NotFlagged(ValueError):
    def __init__(self, case_id: str) -> None:
        super().__init__(f"case {case_id} is not flagged as a possible death")


def decide_possible_death(
    store: Store,
    case_id: str,
    *,
    confirm: bool,
    margin: timedelta,
    actor: str,
    now: datetime,
) -> None:
    """A coordinator confirms a possible death (the person's open cases close as
    deceased, their texts stop) or dismisses it (the flag goes)."""
    with store.transaction() as conn:
        row = records.load_case(conn, case_id, lock=True)
        if row is None or row.status != CaseStatus.OPEN.value or row.possible_death_at is None:
            raise NotFlagged(case_id)
        if not confirm:
            dismiss_possible_death(conn, [case_id], now, actor)
            return
        report = conn.execute(
            select(events).where(events.c.id == row.possible_death_event_id)
        ).first()
        source = report.source if report is not None else "staff"
        event_id = report.event_id if report is not None else "-"
        detail: dict[str, str | int | float | None] = {
            "outcome": VisitResult.DECEASED.value,
            "reason": "possible_death_confirmed",
            "source": source,
            "event_id": event_id,
        }
        close_deceased(conn, [case_id], detail, now, actor)
        if row.person_id is not None:
            died_at = report.occurred_at if report is not None else now
            phone = report.phone_token if report is not None else None
            death = Death(row.person_id, died_at, source, event_id, phone)
            apply_death(conn, row.program_id, death, margin, now, actor=actor)
        records.request_plan(conn, [row.program_id], now)

"""What the retention job reads to decide (services/retention/rules.py): a program's
persons and its cases without a person, a page at a time in id order, with the facts of
each: its cases (a person's own, and the family-support case their death opened; apart,
the cases of a person's reports that another person owns now), their closing, last
change, reports and texts still pending, and when it was purged before."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from schemas.cases import CaseKind, CaseStatus
from schemas.sms import TextState
from services.retention.rules import CaseFacts, SubjectFacts
from services.store.contact_records import family_case_id
from services.store.tables import cases, events, persons, retention_purges, sms_texts

PERSON, CASE = "person", "case"
PENDING_TEXTS = (TextState.QUEUED.value, TextState.SENDING.value, TextState.CHECKING.value)


def person_page(conn: Connection, program_id: str, after: str, limit: int) -> list[str]:
    rows = conn.execute(
        select(persons.c.id)
        .where(persons.c.program_id == program_id, persons.c.id > after)
        .order_by(persons.c.id)
        .limit(limit)
    )
    return [r.id for r in rows]


def _anonymous(program_id: str) -> Any:
    return and_(
        cases.c.program_id == program_id,
        cases.c.person_id.is_(None),
        cases.c.kind != CaseKind.FAMILY_SUPPORT.value,  # a death's case: the person's
    )


def case_page(conn: Connection, program_id: str, after: str, limit: int) -> list[str]:
    rows = conn.execute(
        select(cases.c.id)
        .where(_anonymous(program_id), cases.c.id > after)
        .order_by(cases.c.id)
        .limit(limit)
    )
    return [r.id for r in rows]


def subjects_count(conn: Connection, program_id: str) -> int:
    persons_n = conn.execute(
        select(func.count()).where(persons.c.program_id == program_id)
    ).scalar_one()
    cases_n = conn.execute(select(func.count()).where(_anonymous(program_id))).scalar_one()
    return int(persons_n) + int(cases_n)


def _case_facts(conn: Connection, case_rows: Sequence[Any]) -> dict[str, CaseFacts]:
    ids = [r.id for r in case_rows]
    if not ids:
        return {}
    reported = dict(
        conn.execute(
            select(events.c.case_id, func.max(events.c.recorded_at))
            .where(events.c.case_id.in_(ids))
            .group_by(events.c.case_id)
        ).all()
    )
    pending = set(
        conn.execute(
            select(sms_texts.c.case_id)
            .where(sms_texts.c.case_id.in_(ids), sms_texts.c.state.in_(PENDING_TEXTS))
            .distinct()
        ).scalars()
    )
    out = {}
    for r in case_rows:
        times = [t for t in (r.closed_at, r.updated_at, reported.get(r.id)) if t is not None]
        out[r.id] = CaseFacts(
            id=r.id,
            closed=r.status == CaseStatus.CLOSED.value and r.closed_at is not None,
            last_at=max(times),
            text_pending=r.id in pending,
        )
    return out


_CASE_COLUMNS = (
    cases.c.id,
    cases.c.person_id,
    cases.c.status,
    cases.c.closed_at,
    cases.c.updated_at,
)


def _purged(conn: Connection, kind: str, ids: Sequence[str]) -> dict[str, datetime]:
    rows = conn.execute(
        select(retention_purges.c.subject_id, retention_purges.c.purged_at).where(
            retention_purges.c.subject_type == kind, retention_purges.c.subject_id.in_(ids)
        )
    )
    return {r.subject_id: r.purged_at for r in rows}


def _report_cases(
    conn: Connection, ids: Sequence[str], theirs: dict[str, list[CaseFacts]]
) -> dict[str, list[CaseFacts]]:
    """The cases of these persons' reports that are not theirs (a review unlinked another
    report of the case, and the case went with it): by person."""
    pairs = conn.execute(
        select(events.c.person_id, events.c.case_id)
        .where(events.c.person_id.in_(ids), events.c.case_id.is_not(None))
        .distinct()
    ).all()
    foreign = [(p, c) for p, c in pairs if c not in {f.id for f in theirs.get(p, [])}]
    if not foreign:
        return {}
    rows = conn.execute(
        select(*_CASE_COLUMNS).where(cases.c.id.in_(sorted({c for _, c in foreign})))
    ).all()
    facts = _case_facts(conn, rows)
    by_person: dict[str, list[CaseFacts]] = defaultdict(list)
    for person_id, case_id in sorted(foreign):
        by_person[person_id].append(facts[case_id])
    return by_person


def person_facts(conn: Connection, program_id: str, ids: Sequence[str]) -> list[SubjectFacts]:
    """The facts of these persons of the program (module doc)."""
    if not ids:
        return []
    own = conn.execute(select(*_CASE_COLUMNS).where(cases.c.person_id.in_(ids))).all()
    family_of = {family_case_id(program_id, pid): pid for pid in ids}
    family = conn.execute(select(*_CASE_COLUMNS).where(cases.c.id.in_(list(family_of)))).all()
    facts = _case_facts(conn, [*own, *family])
    by_person: dict[str, list[CaseFacts]] = defaultdict(list)
    for r in own:
        by_person[r.person_id].append(facts[r.id])
    for r in family:
        by_person[family_of[r.id]].append(facts[r.id])
    elsewhere = _report_cases(conn, ids, by_person)
    reported = dict(
        conn.execute(
            select(events.c.person_id, func.max(events.c.recorded_at))
            .where(events.c.person_id.in_(ids))
            .group_by(events.c.person_id)
        ).all()
    )
    purged = _purged(conn, PERSON, ids)
    rows = conn.execute(
        select(persons.c.id, persons.c.created_at, persons.c.updated_at).where(
            persons.c.id.in_(ids)
        )
    )
    return [
        SubjectFacts(
            kind=PERSON,
            id=r.id,
            since=max(r.created_at, r.updated_at),
            last_report_at=reported.get(r.id),
            cases=by_person.get(r.id, []),
            purged_at=purged.get(r.id),
            report_cases=elsewhere.get(r.id, []),
        )
        for r in rows
    ]


def case_facts(conn: Connection, ids: Sequence[str]) -> list[SubjectFacts]:
    """The facts of these cases without a person, each its own subject."""
    if not ids:
        return []
    query = select(*_CASE_COLUMNS, cases.c.opened_at).where(cases.c.id.in_(ids))
    rows = conn.execute(query).all()
    facts = _case_facts(conn, rows)
    purged = _purged(conn, CASE, ids)
    return [
        SubjectFacts(
            kind=CASE,
            id=r.id,
            since=r.opened_at,
            last_report_at=None,
            cases=[facts[r.id]],
            purged_at=purged.get(r.id),
        )
        for r in rows
    ]

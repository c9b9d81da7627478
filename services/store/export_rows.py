"""The CSV export of a program's cases, cut by role, with the 42 CFR Part 2 notice."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from schemas.case_views import AttemptView
from services.accounts.redaction import ExportRow, redact
from services.accounts.roles import Capability, Principal
from services.cases.engagement_rules import next_checkin_of
from services.crypto.fields import FieldCipher
from services.store import person_records
from services.store.case_reads import attempts_of
from services.store.case_records import audit
from services.store.contact_records import contacts_by_case
from services.store.queue_reads import in_priority_order, person_view
from services.store.tables import cases, events
from services.store.treatment_records import EXPORT_COLUMNS, export_columns
from services.store.user_reads import usernames

# 42 CFR § 2.32(a)(1): the notice that must accompany a disclosure of Part 2 records.
REDISCLOSURE_NOTICE = (
    "This record which has been disclosed to you is protected by federal confidentiality "
    "rules (42 CFR part 2). These rules prohibit you from using or disclosing this record, "
    "or testimony that describes the information contained in this record, in any civil, "
    "criminal, administrative, or legislative proceedings by any Federal, State, or local "
    "authority, against the patient, unless authorized by the consent of the patient, except "
    "as provided at 42 CFR 2.12(c)(5) or as authorized by a court in accordance with 42 CFR "
    "2.64 or 2.65. In addition, the Federal rules prohibit you from making any other use or "
    "disclosure of this record unless at least one of the following applies: Further use or "
    "disclosure is expressly permitted by the written consent of the individual whose "
    "information is being disclosed in this record or as otherwise permitted by 42 CFR part "
    "2. A general authorization for the release of medical or other information is NOT "
    "sufficient for this purpose (see 42 CFR 2.31). The Federal rules restrict any use of the "
    "information to investigate or prosecute with regard to a crime any patient with a "
    "substance use disorder, except as provided at 42 CFR 2.12(c)(5) and 2.65."
)

BASE = [
    "case_id", "status", "tier", "occurred_at", "window_due_at", "owner", "team_id",
    "attempts", "methods", "people_met", "case_kind", "contacts",
]  # fmt: skip
PERSON = ["first_name", "last_name", "dob", "phone", "address", "city", "zip"]
CLINICAL = [
    "substances", "naloxone", "outcome", "referral", "needs", "barriers", "services", "notes",
    *EXPORT_COLUMNS, "engaged", "next_checkin_at", "referral_kind",
]  # fmt: skip


def _csv_line(values: Sequence[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


def _safe(value: object) -> object:
    """No cell may start a spreadsheet formula (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def export_csv(
    conn: Connection,
    cipher: FieldCipher,
    program_id: str,
    who: Principal,
    now: datetime,
    *,
    status: str = "open",
) -> Iterator[str]:
    """The export as lines; the read is audited (case ids) before the first line."""
    person = who.can(program_id, Capability.VIEW_PERSON)
    clinical = who.can(program_id, Capability.VIEW_CLINICAL)
    query = select(cases).where(cases.c.program_id == program_id)
    if status != "all":
        query = query.where(cases.c.status == status)
    rows = conn.execute(query.order_by(*in_priority_order(cases))).all()
    audit(
        conn, now, who.actor, "export", "program", program_id,
        {"cases": [r.id for r in rows], "person": person, "clinical": clinical},
    )  # fmt: skip
    owners = usernames(conn, [r.owner_user_id for r in rows])
    visits = attempts_of(conn, cipher, [r.id for r in rows], clinical, person)
    known = contacts_by_case(conn, [r.id for r in rows])  # how many, never who
    treated = export_columns(conn, [r.id for r in rows]) if clinical else {}
    yield _csv_line(["# " + REDISCLOSURE_NOTICE])
    yield _csv_line(BASE + (PERSON if person else []) + (CLINICAL if clinical else []))
    for r in rows:
        row = ExportRow(
            base=(
                r.id, r.status, r.tier, r.occurred_at.isoformat(), r.window_due_at.isoformat(),
                owners.get(r.owner_user_id, ""), r.assigned_team_id or r.planned_team_id,
                *_visit_base(visits[r.id]), r.kind, len(known.get(r.id, [])),
            ),
            person=_person(conn, cipher, r.person_id) if person else None,
            clinical=(
                *_clinical(conn, cipher, r.id), r.outcome, r.referral,
                *_visit_clinical(visits[r.id]), *treated[r.id], *_engagement(r),
                r.referral_kind,
            ) if clinical else None,
        )  # fmt: skip
        shown = redact(row, who, program_id)
        line = [*shown.base, *(shown.person or ()), *(shown.clinical or ())]
        yield _csv_line([_safe(v) for v in line])


def _engagement(r: Any) -> tuple[object, ...]:
    """Whether the client stays engaged (yes/no) and the next check-in, while open."""
    shown = next_checkin_of(r)
    return ("yes" if r.engaged_at else "no", shown.isoformat() if shown else None)


def _joined(values: Iterable[object]) -> str:
    return "; ".join(dict.fromkeys(str(v) for v in values))


def _visit_base(tried: Sequence[AttemptView]) -> tuple[object, ...]:
    """How many attempts, how the team tried and whom they met (every role)."""
    methods = _joined(a.method.value for a in tried if a.method)
    met = _joined(p.value for a in tried for p in a.people_met)
    return len(tried), methods, met


def _visit_clinical(tried: Sequence[AttemptView]) -> tuple[object, ...]:
    """Needs, barriers, services and notes of every attempt (clinical sight only)."""
    return (
        _joined(w for a in tried for w in a.needs),
        _joined(w for a in tried for w in a.barriers),
        _joined(s.value for a in tried for s in a.services),
        " | ".join(f"{a.attempt_no}: {a.notes}" for a in tried if a.notes),
    )


def _person(conn: Connection, cipher: FieldCipher, person_id: str | None) -> tuple[object, ...]:
    view = person_view(conn, cipher, person_id) if person_id else None
    first = view.addresses[0] if view and view.addresses else None
    return (
        view.first_name if view else None,
        view.last_name if view else None,
        view.dob.isoformat() if view and view.dob else None,
        view.phone if view else None,
        first.address if first else None,
        first.city if first else None,
        first.zip if first else None,
    )


def _clinical(conn: Connection, cipher: FieldCipher, case_id: str) -> tuple[str, str]:
    substances: list[str] = []
    naloxone = False
    rows = conn.execute(
        select(
            events.c.source, events.c.agency_id, events.c.event_id, events.c.clinical_sealed
        ).where(events.c.case_id == case_id, events.c.clinical_sealed.is_not(None))
    )
    for r in rows:
        facts = person_records.open_clinical(
            cipher, f"{r.source}|{r.agency_id}|{r.event_id}", r.clinical_sealed
        )
        substances += [s for s in facts.suspected_substances if s not in substances]
        naloxone = naloxone or facts.naloxone_administered
    return "; ".join(substances), "yes" if naloxone else "no"

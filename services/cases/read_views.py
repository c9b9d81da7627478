"""The audited reads of a program's people, as use cases: each opens its own
transaction, reads what the caller may see, cuts it (services/accounts/redaction.py)
and writes its audit row in the same transaction. Entrypoints (API routes, pages)
decode the request, call one of these and encode the answer."""

from __future__ import annotations

from datetime import datetime

from schemas.case_views import CaseDetail, ReviewView
from schemas.cases import ShiftPlan
from schemas.person_views import PersonHistory
from services.accounts.redaction import redact
from services.accounts.roles import Principal
from services.cases import reviews
from services.crypto.fields import FieldCipher
from services.store.case_reads import case_detail
from services.store.case_records import audit
from services.store.export_rows import export_csv
from services.store.person_history import person_history
from services.store.queue_reads import person_view, shift_plans
from services.store.repository import Store


def shift_plans_between(
    store: Store, program_id: str, team: str | None, start: datetime, end: datetime,
    now: datetime,
) -> list[ShiftPlan]:  # fmt: skip
    """The shift plans of the program (or one team) from `start` to `end`, as planned."""
    with store.engine.connect() as conn:
        return shift_plans(conn, program_id, team_id=team, start=start, end=end, now=now)


def read_case(
    store: Store, cipher: FieldCipher, case_id: str, who: Principal, now: datetime
) -> CaseDetail | None:
    """One case as `who` may see it (None: not in one of their programs); audited."""
    with store.transaction() as conn:
        return case_detail(conn, cipher, case_id, who, now)


def read_person(
    store: Store, cipher: FieldCipher, person_id: str, who: Principal, now: datetime
) -> PersonHistory | None:
    """A person's history as `who` may see it (None: no such person for them); audited."""
    with store.transaction() as conn:
        return person_history(conn, cipher, person_id, who, now)


def open_review_views(
    store: Store, cipher: FieldCipher, program_id: str, who: Principal, now: datetime
) -> list[ReviewView]:
    """The open reviews with both persons opened for the decision; audited."""
    found = reviews.open_reviews(store, program_id)
    out = []
    with store.transaction() as conn:
        for r in found:
            person = person_view(conn, cipher, r.person_id) if r.person_id else None
            view = ReviewView(
                id=r.id, case_id=r.case_id, person_id=r.person_id,
                candidate_person_id=r.candidate_person_id, score=r.score, evidence=r.evidence,
                created_at=r.created_at, person=person,
                candidate=person_view(conn, cipher, r.candidate_person_id),
            )  # fmt: skip
            out.append(redact(view, who, program_id))
        if out:
            audit(conn, now, who.actor, "reviews_read", "program", program_id,
                  {"reviews": [r.id for r in out]})  # fmt: skip
    return out


def export_text(
    store: Store, cipher: FieldCipher, program_id: str, who: Principal, now: datetime,
    status: str,
) -> str:  # fmt: skip
    """The CSV export as `who` may see it; read and audited in one transaction."""
    with store.transaction() as conn:
        return "".join(export_csv(conn, cipher, program_id, who, now, status=status))

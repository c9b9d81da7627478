"""The review queue and reversible links: link, keep apart, unlink. All audited.

Uncertain person matches wait here for a person to decide (link, don't merge
destructively). Linking points the event, and its case when the case was the
event's own person's, at the candidate; keeping apart leaves both as they are.
Any link can be undone: `unlink_case` puts an event back as its own case,
`unlink_person` puts it back as its own person (from the event's own sealed
patient data). The tier of every case touched is taken again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, and_, func, select, update

from schemas.cases import TIER_RANK, CaseEventKind, CaseStatus
from services.cases.deaths import Death, apply_death, dismiss_possible_death
from services.cases.merging import merge_open_cases
from services.cases.person_resolution import person_id_for
from services.cases.tiering import OtherHistoryTiers, tier_for_history
from services.cases.visits import retier_person
from services.core.cases import case_id_for_key, stored_event_key
from services.crypto.fields import FieldCipher
from services.identity.blocking import blind_tokens
from services.identity.matching import features_from_patient
from services.planning.visit_window import visit_window
from services.programs import Program
from services.store import case_records as records
from services.store import person_records
from services.store.repository import Store
from services.store.tables import cases, events, match_reviews, persons, timers


class ReviewError(ValueError):
    """A review or link change the store refuses, with the reason."""


@dataclass(frozen=True)
class OpenReview:
    id: int
    program_id: str
    case_id: str | None
    person_id: str | None
    candidate_person_id: str
    score: float
    evidence: str
    created_at: datetime


def open_reviews(store: Store, program_id: str) -> list[OpenReview]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(match_reviews)
            .where(and_(match_reviews.c.program_id == program_id, match_reviews.c.status == "open"))
            .order_by(match_reviews.c.created_at, match_reviews.c.id)
        )
        return [
            OpenReview(
                r.id, r.program_id, r.case_id, r.person_id, r.candidate_person_id, r.score,
                r.evidence, r.created_at,
            )
            for r in rows
        ]  # fmt: skip


def _review(conn: Connection, review_id: int) -> Row[Any]:
    row = conn.execute(select(match_reviews).where(match_reviews.c.id == review_id)).first()
    if row is None:
        raise ReviewError(f"no review {review_id}")
    if row.status != "open":
        raise ReviewError(f"review {review_id} was already decided ({row.status})")
    return row


def _retier_case(conn: Connection, case_id: str, rules: OtherHistoryTiers, now: datetime) -> None:
    row = records.load_case(conn, case_id)
    if row is None or row.status != CaseStatus.OPEN.value:
        return
    if row.person_id:
        retier_person(conn, row.person_id, rules, now)
        return
    if row.engaged_at is not None:
        return  # an engaged case keeps its tier (services/cases/engagement.py)
    history: list[Any] = []
    tier = tier_for_history(history, rules)
    if tier.value != row.tier:
        conn.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(tier=tier.value, tier_rank=TIER_RANK[tier], version=cases.c.version + 1)
        )
        records.announce(conn, case_id, CaseEventKind.TIER_CHANGED, now, {"previous": row.tier})


def link_review(
    store: Store, review_id: int, *, actor: str, now: datetime, program: Program
) -> None:
    """The event's person is the candidate: the event (and its case, if the case was
    the event's own person's) follows; two open cases of the person become one
    (services/cases/merging.py); a fatal report's death is confirmed (deaths.py)."""
    with store.transaction() as conn:
        review = _review(conn, review_id)
        records.lock_programs(conn, [review.program_id])
        candidate = review.candidate_person_id
        conn.execute(
            update(events)
            .where(events.c.id == review.event_row_id)
            .values(person_id=candidate, match_decision="linked")
        )
        if review.case_id:
            conn.execute(
                update(cases)
                .where(and_(cases.c.id == review.case_id, cases.c.person_id == review.person_id))
                .values(person_id=candidate, updated_at=now)
            )
            records.announce(
                conn, review.case_id, CaseEventKind.LINKED, now, {"reason": "review_link"}
            )
        merged = merge_open_cases(conn, program, candidate, now, actor)
        for case_id in sorted({c for c in (review.case_id, merged) if c}):
            _retier_case(conn, case_id, program.tiers, now)
        event = conn.execute(select(events).where(events.c.id == review.event_row_id)).one()
        if event.fatal:
            death = Death(candidate, event.occurred_at, event.source, event.event_id,
                          event.phone_token)  # fmt: skip
            apply_death(conn, program.id, death, _merge_margin(program), now, actor=actor)
        conn.execute(
            update(match_reviews)
            .where(match_reviews.c.id == review_id)
            .values(status="linked", resolved_at=now, resolved_by=actor)
        )
        records.audit(
            conn, now, actor, "review_linked", "review", str(review_id),
            {"event_row_id": review.event_row_id, "person_id": candidate},
        )  # fmt: skip
        records.request_plan(conn, [review.program_id], now)


def keep_apart(store: Store, review_id: int, *, actor: str, now: datetime) -> None:
    """Two persons stay two; a possible death this review's fatal report flagged is
    dismissed."""
    with store.transaction() as conn:
        review = _review(conn, review_id)  # refuses an unknown or decided review
        records.lock_programs(conn, [review.program_id])
        conn.execute(
            update(match_reviews)
            .where(match_reviews.c.id == review_id)
            .values(status="kept_apart", resolved_at=now, resolved_by=actor)
        )
        records.audit(conn, now, actor, "review_kept_apart", "review", str(review_id))
        flagged = conn.execute(
            select(cases.c.id).where(
                and_(
                    cases.c.person_id == review.candidate_person_id,
                    cases.c.possible_death_event_id == review.event_row_id,
                    cases.c.status == CaseStatus.OPEN.value,
                )
            )
        ).scalars()
        dismiss_possible_death(conn, list(flagged), now, actor)


def _merge_margin(program: Program) -> timedelta:
    return timedelta(minutes=program.matching.incident_merge_minutes)


def _event(conn: Connection, source: str, agency_id: str, event_id: str) -> Row[Any]:
    row = conn.execute(
        select(events).where(
            and_(
                events.c.source == source,
                events.c.agency_id == agency_id,
                events.c.event_id == event_id,
            )
        )
    ).first()
    if row is None:
        raise ReviewError(f"no event {source}:{agency_id}:{event_id}")
    return row


def unlink_case(
    store: Store,
    program: Program,
    source: str,
    agency_id: str,
    event_id: str,
    *,
    actor: str,
    now: datetime,
) -> str:
    """Put an event that was joined to another case back as its own case; return its id."""
    with store.transaction() as conn:
        event = _event(conn, source, agency_id, event_id)
        records.lock_programs(conn, [event.program_id])
        if event.case_id is None:
            raise ReviewError("the event has no case (a fatal overdose opens none)")
        shared = conn.execute(
            select(func.count()).select_from(events).where(events.c.case_id == event.case_id)
        ).scalar_one()
        if shared < 2:
            raise ReviewError("the event is the only one of its case: nothing to unlink")
        new_id = case_id_for_key(stored_event_key(event.source, event.agency_id, event.event_id))
        if new_id == event.case_id:
            raise ReviewError("the case was opened by this event; unlink the others instead")
        window = visit_window(event.occurred_at, program.visit_window)
        history = records.history_of(conn, [event.person_id] if event.person_id else [])
        tier = tier_for_history(history.get(event.person_id or "", []), program.tiers)
        existing = records.load_case(conn, new_id)
        values: dict[str, object] = {
            "program_id": event.program_id, "status": CaseStatus.OPEN.value,
            "tier": tier.value, "tier_rank": TIER_RANK[tier], "occurred_at": event.occurred_at,
            "window_opens_at": window.opens_at, "window_due_at": window.due_at,
            "updated_at": now, "person_id": event.person_id, "closed_at": None, "outcome": None,
            "merged_into": None,
        }  # fmt: skip
        if existing is None:
            conn.execute(cases.insert().values(id=new_id, opened_at=now, **values))
            conn.execute(
                timers.insert(),
                records.timer_rows(
                    new_id, event.program_id, window.opens_at, window.due_at,
                    program.at_risk_before_due,
                ),
            )  # fmt: skip
        else:
            conn.execute(update(cases).where(cases.c.id == new_id).values(**values))
        conn.execute(update(events).where(events.c.id == event.id).values(case_id=new_id))
        detail = {"event_id": event_id, "new_case_id": new_id}
        records.announce(conn, event.case_id, CaseEventKind.UNLINKED, now, detail)
        records.announce(conn, new_id, CaseEventKind.OPENED, now, {"reason": "unlinked"})
        records.audit(conn, now, actor, "event_unlinked_from_case", "case", event.case_id, detail)
        records.request_plan(conn, [event.program_id], now)
        return new_id


def unlink_person(
    store: Store,
    cipher: FieldCipher,
    program: Program,
    source: str,
    agency_id: str,
    event_id: str,
    *,
    actor: str,
    now: datetime,
) -> str:
    """Put an event back as its own person (from its own sealed patient data)."""
    with store.transaction() as conn:
        event = _event(conn, source, agency_id, event_id)
        records.lock_programs(conn, [event.program_id])
        if event.patient_sealed is None:
            raise ReviewError("the event names nobody: there is no person to unlink")
        key = stored_event_key(event.source, event.agency_id, event.event_id)
        own = person_id_for(key)
        if event.person_id == own:
            raise ReviewError("the event is already its own person")
        patient = person_records.open_patient(cipher, key, event.patient_sealed)
        if conn.execute(select(persons.c.id).where(persons.c.id == own)).first() is None:
            identity = person_records.identity_of(patient)
            person_records.insert_persons(
                conn,
                [
                    {
                        "id": own, "program_id": event.program_id,
                        "identity_sealed": person_records.seal_identity(cipher, own, identity),
                        "created_at": now, "updated_at": now,
                    }
                ],
            )  # fmt: skip
            features = features_from_patient(patient)
            person_records.add_tokens(
                conn,
                person_records.index_rows(
                    event.program_id, own, blind_tokens(cipher.blind, features)
                ),
            )
        previous = event.person_id
        conn.execute(update(events).where(events.c.id == event.id).values(person_id=own))
        if event.case_id:
            conn.execute(
                update(cases)
                .where(and_(cases.c.id == event.case_id, cases.c.person_id == previous))
                .values(person_id=own, updated_at=now)
            )
            detail = {"event_id": event_id, "reason": "person_unlinked"}
            records.announce(conn, event.case_id, CaseEventKind.UNLINKED, now, detail)
            _retier_case(conn, event.case_id, program.tiers, now)
        records.audit(
            conn, now, actor, "event_unlinked_from_person", "event", str(event.id),
            {"from_person": previous, "to_person": own},
        )  # fmt: skip
        records.request_plan(conn, [event.program_id], now)
        return own


def program_of_review(store: Store, review_id: int) -> str | None:
    """The program of a review, or None if there is no such review."""
    with store.engine.connect() as conn:
        found = conn.execute(
            select(match_reviews.c.program_id).where(match_reviews.c.id == review_id)
        ).scalar_one_or_none()
    return str(found) if found is not None else None

"""What scheduling texts for many cases reads, set-based: the cases, their events'
phone tokens, the latest consent of each of those phones, and the texts they already
have. A few `IN (...)` queries per ~300 cases instead of a handful per case. Sealed
patient records are read but never opened here (services/sms/texts.py opens only
those whose content a text needs)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, select

from schemas.sms import ConsentSource, TextState
from services.store.repository import Store
from services.store.tables import cases, events, sms_consents, sms_texts

T = TypeVar("T")
CHUNK = 300  # ids per IN (...): well under every backend's bound-parameter limit

# What announcing a text (services/sms/texts.py `outbox_record`) needs, plus what
# scheduling matches on: its key, its phone.
TEXT_COLUMNS = (
    sms_texts.c.id,
    sms_texts.c.idempotency_key,
    sms_texts.c.program_id,
    sms_texts.c.case_id,
    sms_texts.c.phone_token,
    sms_texts.c.kind,
    sms_texts.c.state,
    sms_texts.c.due_at,
    sms_texts.c.send_after,
    sms_texts.c.twilio_sid,
    sms_texts.c.error_code,
    sms_texts.c.reason,
)


@dataclass(frozen=True)
class PhoneEvent:
    """An event of a case that gives a phone (by its blind index), its patient sealed."""

    source: str
    agency_id: str
    event_id: str
    patient_sealed: str
    phone_token: str

    @property
    def key(self) -> str:
        return f"{self.source}|{self.agency_id}|{self.event_id}"


@dataclass
class CasesTexts:
    """The state that decides the texts of a set of cases, read at once."""

    cases: dict[str, Any] = field(default_factory=dict)  # case id -> cases row
    # case id -> its events that give a phone, newest first
    phones: dict[str, list[PhoneEvent]] = field(default_factory=dict)
    # (program id, phone token) -> the latest word on consent; no row means no
    consents: dict[tuple[str, str], bool] = field(default_factory=dict)
    # (program id, phone token, person id) of a person who died: never a text for them
    deceased: set[tuple[str, str, str]] = field(default_factory=set)
    # case id -> slot ("CASE:check_in", the idempotency key of a text first queued for this
    # case) -> the text's columns (TEXT_COLUMNS) and its "slot"
    texts: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def consents_to_texts(self, program_id: str, token: str, person_id: str | None) -> bool:
        if person_id is not None and (program_id, token, person_id) in self.deceased:
            return False
        return self.consents.get((program_id, token), False)


def text_slot(idempotency_key: str) -> str:
    """What a text is for its case ("check_in", "follow_up_day_3"): its key without the
    id of the case it was first queued for (a merged case's texts join the survivor's)."""
    return idempotency_key.split(":", 1)[1] if ":" in idempotency_key else idempotency_key


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[list[T]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def read_cases_texts(conn: Connection, case_ids: Sequence[str]) -> CasesTexts:
    ids = sorted(set(case_ids))
    found = CasesTexts()
    for chunk in chunks(ids):
        found.cases.update(
            (row.id, row)
            for row in conn.execute(
                select(
                    cases.c.id,
                    cases.c.program_id,
                    cases.c.person_id,
                    cases.c.status,
                    cases.c.outcome,
                    cases.c.occurred_at,
                    cases.c.window_opens_at,
                    cases.c.planned_visit_from,
                ).where(cases.c.id.in_(chunk))
            )
        )
    known = sorted(found.cases)
    for chunk in chunks(known):
        rows = conn.execute(
            select(
                events.c.case_id,
                events.c.source,
                events.c.agency_id,
                events.c.event_id,
                events.c.patient_sealed,
                events.c.phone_token,
            )
            .where(and_(events.c.case_id.in_(chunk), events.c.phone_token.is_not(None)))
            .order_by(events.c.case_id, events.c.occurred_at.desc(), events.c.id.desc())
        )
        for r in rows:
            found.phones.setdefault(r.case_id, []).append(
                PhoneEvent(r.source, r.agency_id, r.event_id, r.patient_sealed, r.phone_token)
            )
        for text in conn.execute(
            select(*TEXT_COLUMNS)
            .where(  # a text to a contact is not the client's (services/cases/contact_texts.py)
                and_(sms_texts.c.case_id.in_(chunk), sms_texts.c.contact_id.is_(None))
            )
            .order_by(sms_texts.c.id)
        ):
            # A text of a case merged into this one counts as this case's (its slot):
            # the case's texts are kept once; a live text wins over a cancelled one.
            slot = f"{text.case_id}:{text_slot(text.idempotency_key)}"
            mine = found.texts.setdefault(text.case_id, {})
            if slot not in mine or mine[slot]["state"] == TextState.CANCELLED.value:
                mine[slot] = {**text._mapping, "slot": slot}
    _read_consents(
        conn,
        found,
        sorted({case.program_id for case in found.cases.values()}),
        sorted({e.phone_token for es in found.phones.values() for e in es}),
    )
    return found


def _read_consents(
    conn: Connection, found: CasesTexts, program_ids: list[str], tokens: list[str]
) -> None:
    """(program, token) -> granted, by the latest row (highest id) of each pair; and the
    persons who died, by their `deceased` rows."""
    latest: dict[tuple[str, str], tuple[int, bool]] = {}
    for chunk in chunks(tokens):
        rows = conn.execute(
            select(
                sms_consents.c.program_id,
                sms_consents.c.phone_token,
                sms_consents.c.id,
                sms_consents.c.granted,
                sms_consents.c.source,
                sms_consents.c.person_id,
            ).where(
                and_(
                    sms_consents.c.program_id.in_(program_ids),
                    sms_consents.c.phone_token.in_(chunk),
                )
            )
        )
        for program_id, token, row_id, granted, source, person_id in rows:
            seen = latest.get((program_id, token))
            if seen is None or row_id > seen[0]:
                latest[(program_id, token)] = (row_id, bool(granted))
            if source == ConsentSource.DECEASED.value and person_id is not None:
                found.deceased.add((program_id, token, person_id))
    found.consents = {pair: granted for pair, (_, granted) in latest.items()}


def latest_texts(store: Store, program_id: str | None, state: str | None, limit: int) -> list[Any]:
    """The texts last due first (of one program, in one state), for `qrt sms outbox`."""
    query = select(sms_texts).order_by(sms_texts.c.send_after.desc(), sms_texts.c.id.desc())
    if program_id:
        query = query.where(sms_texts.c.program_id == program_id)
    if state:
        query = query.where(sms_texts.c.state == state)
    with store.engine.connect() as conn:
        return list(conn.execute(query.limit(limit)).all())

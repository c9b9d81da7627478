"""Persons in the store: identity sealed (AES-GCM), found through blind-index tokens."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from schemas.case_views import ClinicalFacts
from schemas.overdose_event import (
    MAX_PHONES,
    Address,
    Destination,
    Location,
    OverdoseEvent,
    Patient,
)
from services.crypto.fields import FieldCipher
from services.store.tables import person_addresses, person_index, persons

IDENTITY_FIELDS = (
    "first_name", "middle_name", "last_name", "dob", "age", "sex", "phone", "phones",
    "language",
)  # fmt: skip


def identity_of(patient: Patient) -> dict[str, Any]:
    return patient.model_dump(mode="json", include=set(IDENTITY_FIELDS), exclude_none=True)


def _phones_of(identity: dict[str, Any]) -> list[str]:
    listed = identity.get("phones") or []
    return list(listed) if listed else ([identity["phone"]] if identity.get("phone") else [])


def merged_identity(known: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Fill what the person's record lacks; never overwrite what it has. Phone numbers
    add up (the known `phone` stays first: texts go on to the same number); the age is
    the latest report's, when it gives one (an age without a date grows stale)."""
    merged = {**new, **known}
    phones = list(dict.fromkeys([*_phones_of(known), *_phones_of(new)]))[:MAX_PHONES]
    if len(phones) > 1:
        merged["phones"] = phones
    if new.get("age"):
        merged["age"] = new["age"]
    return merged


def seal_identity(cipher: FieldCipher, person_id: str, identity: dict[str, Any]) -> str:
    return cipher.seal(json.dumps(identity, sort_keys=True), f"persons.identity:{person_id}")


def open_identity(cipher: FieldCipher, person_id: str, sealed: str) -> dict[str, Any]:
    if not sealed:  # removed by the retention job (services/retention): nothing is known
        return {}
    value: dict[str, Any] = json.loads(cipher.open(sealed, f"persons.identity:{person_id}"))
    return value


def seal_patient(cipher: FieldCipher, event_key: str, patient: Patient) -> str:
    return cipher.seal(patient.model_dump_json(exclude_none=True), f"events.patient:{event_key}")


def seal_clinical(cipher: FieldCipher, event_key: str, clinical: ClinicalFacts) -> str:
    return cipher.seal(clinical.model_dump_json(exclude_none=True), f"events.clinical:{event_key}")


def open_clinical(cipher: FieldCipher, event_key: str, sealed: str) -> ClinicalFacts:
    return ClinicalFacts.model_validate_json(cipher.open(sealed, f"events.clinical:{event_key}"))


_NO_CLINICAL_FACTS = ClinicalFacts(naloxone_administered=False)  # what a report silent on it says


def clinical_of(event: OverdoseEvent) -> ClinicalFacts | None:
    """What the event says of the overdose itself; None when it says nothing."""
    facts = ClinicalFacts(
        suspected_substances=list(event.suspected_substances),
        disposition=event.disposition,
        naloxone_administered=event.naloxone.administered,
        naloxone_doses=event.naloxone.doses,
        naloxone_given_by=event.naloxone.given_by,
        destination=destination_words(event.destination),
        agency_name=event.agency_name,
    )
    return None if facts == _NO_CLINICAL_FACTS else facts


def destination_words(where: Destination | None) -> str | None:
    """ "Name (street, line 2, state ZIP)": where the patient was taken, in one line."""
    if where is None:
        return None
    town = " ".join(p for p in (where.state, where.zip) if p)
    line = ", ".join(p for p in (where.address, where.address2, town) if p)
    if where.name:
        return f"{where.name} ({line})" if line else where.name
    return line or None


def seal_scene(cipher: FieldCipher, event_key: str, where: Location) -> str | None:
    """The report's scene sealed (None when the report names no place)."""
    if where == Location():
        return None
    return cipher.seal(where.model_dump_json(exclude_none=True), f"events.scene:{event_key}")


def open_scene(cipher: FieldCipher, event_key: str, sealed: str) -> Location:
    return Location.model_validate_json(cipher.open(sealed, f"events.scene:{event_key}"))


def notes_aad(case_id: str, attempt_no: int) -> str:
    return f"attempts.notes:{case_id}:{attempt_no}"


def open_reply(cipher: FieldCipher, message_sid: str, sealed: str) -> str:
    """A client's reply to a text, as they wrote it (sealed as `sms_replies.body`)."""
    return cipher.open(sealed, f"sms_replies.body:{message_sid}")


def open_patient(cipher: FieldCipher, event_key: str, sealed: str) -> Patient:
    return Patient.model_validate_json(cipher.open(sealed, f"events.patient:{event_key}"))


def persons_by_tokens(
    conn: Connection, program_id: str, tokens: Iterable[str]
) -> dict[str, set[str]]:
    """token -> person ids, for one program."""
    wanted = sorted(set(tokens))
    found: dict[str, set[str]] = defaultdict(set)
    for start in range(0, len(wanted), 500):
        rows = conn.execute(
            select(person_index.c.token, person_index.c.person_id).where(
                and_(
                    person_index.c.program_id == program_id,
                    person_index.c.token.in_(wanted[start : start + 500]),
                )
            )
        )
        for token, person_id in rows:
            found[token].add(person_id)
    return found


def load_identities(
    conn: Connection, cipher: FieldCipher, person_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    ids = sorted(set(person_ids))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(persons.c.id, persons.c.identity_sealed).where(
                persons.c.id.in_(ids[start : start + 500])
            )
        )
        for person_id, sealed in rows:
            found[person_id] = open_identity(cipher, person_id, sealed)
    return found


def index_rows(
    program_id: str, person_id: str, tokens: Sequence[tuple[str, str]]
) -> list[dict[str, object]]:
    """`person_index` rows of a person's blind tokens (kind, token)."""
    return [
        {"program_id": program_id, "kind": kind, "token": token, "person_id": person_id}
        for kind, token in tokens
    ]


def insert_persons(conn: Connection, rows: Sequence[dict[str, object]]) -> None:
    if rows:
        conn.execute(persons.insert(), list(rows))


def update_identity(
    conn: Connection, cipher: FieldCipher, person_id: str, identity: dict[str, Any], now: datetime
) -> None:
    conn.execute(
        update(persons)
        .where(persons.c.id == person_id)
        .values(identity_sealed=seal_identity(cipher, person_id, identity), updated_at=now)
    )


def add_tokens(conn: Connection, rows: Sequence[dict[str, object]]) -> None:
    """Index entries (program, kind, token, person); an entry already there is kept."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(person_index).on_conflict_do_nothing(), list(rows))


def add_addresses(
    conn: Connection,
    cipher: FieldCipher,
    items: Sequence[tuple[str, Address, str, datetime]],
) -> None:
    """(person id, address, source, observed at): every address kept, with source and date."""
    if not items:
        return
    conn.execute(
        person_addresses.insert(),
        [
            {
                "person_id": person_id,
                "address_sealed": cipher.seal(
                    address.model_dump_json(exclude_none=True),
                    f"person_addresses:{person_id}",
                ),
                "source": source,
                "observed_at": observed_at,
            }
            for person_id, address, source, observed_at in items
        ],
    )


def addresses_of(
    conn: Connection, cipher: FieldCipher, person_id: str
) -> list[tuple[Address, str, datetime]]:
    rows = conn.execute(
        select(
            person_addresses.c.address_sealed,
            person_addresses.c.source,
            person_addresses.c.observed_at,
        )
        .where(person_addresses.c.person_id == person_id)
        .order_by(person_addresses.c.observed_at.desc())
    )
    return [
        (
            Address.model_validate_json(cipher.open(sealed, f"person_addresses:{person_id}")),
            source,
            observed_at,
        )
        for sealed, source, observed_at in rows
    ]

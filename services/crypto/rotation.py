"""`qrt keys rotate`: re-seal every personal field under the primary data key, and
(with `reindex`) rebuild the blind indexes under the current index key.

Rotating the data key: put the new key first in QRT_DATA_KEYS, keep the old one
after it, restart, run `qrt keys rotate`, then drop the old key. Rotating the
index key: stop the case worker, set the new QRT_INDEX_KEY, run `qrt keys rotate
--reindex`, start it again. (Scene tokens are not rebuilt: a report arriving
within `incident_merge_minutes` of the rotation is not merged by place with one
from before it.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Column, Table, and_, delete, select, update

from schemas.overdose_event import Patient
from services.crypto.fields import FieldCipher
from services.identity.blocking import blind_tokens
from services.identity.matching import features_from_patient
from services.spikes.reports import place_aad
from services.store.contact_records import contact_aad
from services.store.person_records import add_tokens, index_rows, notes_aad, open_identity
from services.store.repository import Store
from services.store.tables import (
    attempts,
    case_contacts,
    events,
    person_addresses,
    person_index,
    persons,
    rejections,
    sms_replies,
    spike_reports,
)

CHUNK = 500


@dataclass
class RotationReport:
    resealed: int = 0
    reindexed_persons: int = 0


def _aad(table: Table, row: object, column: Column[str]) -> str:
    if table is persons:
        return f"persons.identity:{row.id}"  # type: ignore[attr-defined]
    if table is person_addresses:
        return f"person_addresses:{row.person_id}"  # type: ignore[attr-defined]
    if table is attempts:
        return notes_aad(row.case_id, row.attempt_no)  # type: ignore[attr-defined]
    if table is sms_replies:
        return f"sms_replies.body:{row.message_sid}"  # type: ignore[attr-defined]
    if table is rejections:
        return f"rejections.original:{row.letter_key}"  # type: ignore[attr-defined]
    if table is case_contacts:
        return contact_aad(row.id)  # type: ignore[attr-defined]
    if table is spike_reports:
        return place_aad(row.report_token)  # type: ignore[attr-defined]
    named = {"clinical_sealed": "clinical", "scene_sealed": "scene", "referral_sealed": "referral"}
    what = named.get(column.name, "patient")
    return f"events.{what}:{row.source}|{row.agency_id}|{row.event_id}"  # type: ignore[attr-defined]


def _reseal(store: Store, cipher: FieldCipher, table: Table, column: Column[str]) -> int:
    done = 0
    last = None
    key = table.c.id
    while True:
        with store.transaction() as conn:
            kept = and_(column.is_not(None), column != "")  # "": removed (services/retention)
            query = select(table).where(kept).order_by(key).limit(CHUNK)
            if last is not None:
                query = query.where(key > last)
            rows = conn.execute(query).all()
            if not rows:
                return done
            for row in rows:
                token = getattr(row, column.name)
                if FieldCipher.key_id_of(token) == cipher.keyring.primary:
                    continue
                aad = _aad(table, row, column)
                conn.execute(
                    update(table)
                    .where(key == row.id)
                    .values({column.name: cipher.seal(cipher.open(token, aad), aad)})
                )
                done += 1
            last = rows[-1].id


def rotate(
    store: Store, cipher: FieldCipher, *, reindex: bool, say: Callable[[str], None]
) -> RotationReport:
    report = RotationReport()
    for table, column in (
        (persons, persons.c.identity_sealed),
        (person_addresses, person_addresses.c.address_sealed),
        (events, events.c.patient_sealed),
        (events, events.c.clinical_sealed),
        (events, events.c.scene_sealed),
        (events, events.c.referral_sealed),
        (attempts, attempts.c.notes_sealed),
        (sms_replies, sms_replies.c.body_sealed),
        (rejections, rejections.c.original_sealed),
        (case_contacts, case_contacts.c.contact_sealed),
        (spike_reports, spike_reports.c.place_sealed),
    ):
        n = _reseal(store, cipher, table, column)
        say(f"{table.name}: {n} value(s) re-sealed under key {cipher.keyring.primary}")
        report.resealed += n
    if reindex:
        with store.transaction() as conn:
            for row in conn.execute(select(persons)).all():
                if not row.identity_sealed:  # removed (services/retention): no tokens again
                    continue
                identity = open_identity(cipher, row.id, row.identity_sealed)
                features = features_from_patient(Patient.model_validate(identity))
                conn.execute(delete(person_index).where(person_index.c.person_id == row.id))
                add_tokens(
                    conn, index_rows(row.program_id, row.id, blind_tokens(cipher.blind, features))
                )
                report.reindexed_persons += 1
        say(f"blind indexes rebuilt for {report.reindexed_persons} person(s)")
    return report

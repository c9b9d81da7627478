"""The contacts of a case in the store (inside a caller's transaction): sealed, read as
a role may see them, and the link of a family-support case to the person who died.

A contact's name and phone are sealed together (`case_contacts.contact_sealed`), the
associated data naming the row (`case_contacts.contact:<id>`), so a value copied to
another row does not open; the phone is found by its blind index (`phone_token`, the
same HMAC as the texts', services/sms/consent.py). A removed contact keeps its row
(`removed_at`) and is no longer listed, texted or copied.

A family-support case has no client: the person whose death opened it is named by the
audit row that opened it (`family_support_opened`, append-only), and its id is derived
from that person and the program (`family_case_id`), so one death opens one case."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, select, update

from schemas.cases import CaseKind
from schemas.engagement_views import ContactRelation, ContactView
from services.accounts.roles import Capability, Principal
from services.core.cases import case_id_for_key
from services.crypto.fields import FieldCipher
from services.store.case_records import audit
from services.store.tables import audit_log, case_contacts, cases

FAMILY_OPENED = "family_support_opened"  # the audit action that names the person who died


def contact_aad(row_id: int) -> str:
    return f"case_contacts.contact:{row_id}"


@dataclass(frozen=True)
class Contact:
    """A contact's sealed part, opened."""

    name: str
    phone: str | None


def seal_contact(cipher: FieldCipher, row_id: int, contact: Contact) -> str:
    body = json.dumps({"name": contact.name, "phone": contact.phone}, sort_keys=True)
    return cipher.seal(body, contact_aad(row_id))


def open_contact(cipher: FieldCipher, row_id: int, sealed: str) -> Contact:
    if not sealed:  # removed by the retention job (services/retention)
        return Contact(name="", phone=None)
    value = json.loads(cipher.open(sealed, contact_aad(row_id)))
    return Contact(name=str(value["name"]), phone=value.get("phone"))


def insert_contact(
    conn: Connection,
    cipher: FieldCipher,
    contact: Contact,
    *,
    case_id: str,
    program_id: str,
    person_id: str | None,
    relation: ContactRelation,
    phone_token: str | None,
    sms_consent: bool,
    actor: str,
    now: datetime,
) -> int:
    """A new contact row; sealed once its id (which the associated data names) is known."""
    row = dict(
        case_id=case_id, program_id=program_id, person_id=person_id, relation=relation.value,
        contact_sealed="", phone_token=phone_token, created_at=now, created_by=actor,
        sms_consent=sms_consent and phone_token is not None,
    )  # fmt: skip
    row_id = int(
        conn.execute(
            case_contacts.insert().values(**row).returning(case_contacts.c.id)
        ).scalar_one()
    )
    conn.execute(
        update(case_contacts)
        .where(case_contacts.c.id == row_id)
        .values(contact_sealed=seal_contact(cipher, row_id, contact))
    )
    return row_id


def active_contacts(conn: Connection, case_ids: Sequence[str]) -> list[Row[Any]]:
    """The contacts of these cases that were not removed, oldest first."""
    if not case_ids:
        return []
    return list(
        conn.execute(
            select(case_contacts)
            .where(
                and_(
                    case_contacts.c.case_id.in_(list(case_ids)),
                    case_contacts.c.removed_at.is_(None),
                )
            )
            .order_by(case_contacts.c.id)
        ).all()
    )


def contacts_by_case(conn: Connection, case_ids: Sequence[str]) -> dict[str, list[int]]:
    """The ids of each case's contacts (not removed), read 500 cases at a time."""
    found: dict[str, list[int]] = {}
    for start in range(0, len(case_ids), 500):
        rows = conn.execute(
            select(case_contacts.c.case_id, case_contacts.c.id).where(
                and_(
                    case_contacts.c.case_id.in_(list(case_ids[start : start + 500])),
                    case_contacts.c.removed_at.is_(None),
                )
            )
        )
        for case_id, contact_id in rows:
            found.setdefault(case_id, []).append(contact_id)
    return found


def active_contact(conn: Connection, case_id: str, contact_id: int) -> Row[Any] | None:
    return conn.execute(
        select(case_contacts).where(
            and_(
                case_contacts.c.id == contact_id,
                case_contacts.c.case_id == case_id,
                case_contacts.c.removed_at.is_(None),
            )
        )
    ).first()


def family_case_id(program_id: str, person_id: str) -> str:
    """The one family-support case a person's death opens in a program."""
    return case_id_for_key(f"family_support|{program_id}|{person_id}")


def family_case_of(conn: Connection, program_id: str, person_id: str) -> str | None:
    """The family-support case the person's death opened, if it did."""
    case_id = family_case_id(program_id, person_id)
    found = conn.execute(select(cases.c.id).where(cases.c.id == case_id)).scalar_one_or_none()
    return None if found is None else str(found)


def family_of(conn: Connection, case_id: str) -> str | None:
    """The person whose death opened this family-support case (None for any other)."""
    detail = conn.execute(
        select(audit_log.c.detail)
        .where(
            and_(
                audit_log.c.subject_type == "case",
                audit_log.c.subject_id == case_id,
                audit_log.c.action == FAMILY_OPENED,
            )
        )
        .order_by(audit_log.c.id)
        .limit(1)
    ).scalar_one_or_none()
    person = json.loads(detail).get("person_id") if detail else None
    return str(person) if person else None


def needing_contact(conn: Connection, rows: Sequence[Any]) -> set[str]:
    """Of these case rows, the open family-support cases with no contact: the coordinator
    is to add one (the queue's and the case page's flag)."""
    family = [r.id for r in rows if r.kind == CaseKind.FAMILY_SUPPORT.value and r.status == "open"]
    known = {r.case_id for r in active_contacts(conn, family)}
    return set(family) - known


def contact_views(
    conn: Connection, cipher: FieldCipher, case_id: str, *, identities: bool
) -> list[ContactView]:
    """The case's contacts; name and phone opened only for a role that sees identities."""
    out = []
    for r in active_contacts(conn, [case_id]):
        opened = open_contact(cipher, r.id, r.contact_sealed) if identities else None
        out.append(
            ContactView(
                id=r.id,
                relation=ContactRelation(r.relation),
                name=opened.name if opened else None,
                phone=opened.phone if opened else None,
                sms_consent=bool(r.sms_consent),
                created_at=r.created_at,
            )
        )
    return out


def contact_fields(
    conn: Connection, cipher: FieldCipher, row: Any, who: Principal, now: datetime
) -> dict[str, Any]:
    """What a case's detail says of its contacts (CaseDetail's fields), as `who` may see
    it: the contacts themselves only for a role that sees identities (their reading is
    audited, `contacts_read`, naming the ids), how many for every role."""
    identities = who.can(row.program_id, Capability.VIEW_PERSON)
    shown = contact_views(conn, cipher, row.id, identities=identities)
    if identities and shown:
        audit(conn, now, who.actor, "contacts_read", "case", row.id,
              {"contacts": [c.id for c in shown]})  # fmt: skip
    family = row.kind == CaseKind.FAMILY_SUPPORT.value
    return {
        "contacts": shown if identities else [],
        "contacts_count": len(shown),
        "contact_needed": family and row.status == "open" and not shown,
        "deceased_person_id": family_of(conn, row.id) if family else None,
    }


def bump_version(conn: Connection, case_id: str, now: datetime) -> None:
    conn.execute(
        update(cases)
        .where(cases.c.id == case_id)
        .values(updated_at=now, version=cases.c.version + 1)
    )

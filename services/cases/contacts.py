"""The contacts of a case (family, friends, a partner): added and removed by the team.

Adding one seals their name and phone (services/store/contact_records.py), records
their own consent to texts when they gave it (a consent row for their phone, source
`visit`), and, on an open family-support case, queues their support check-in
(services/cases/contact_texts.py). A contact's consent cannot be given for a phone of
the client or of the person who died: refused. Removing one keeps its row
(`removed_at`) and cancels every text to them not yet sent. Each change bumps the
case's version, is a case event (`contacts_changed`, ids only) and an audit row
(`contact_added`, `contact_removed`: the relation and whether there is a phone,
never the name or the number)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, update

from schemas.cases import CaseEventKind, CaseKind
from schemas.engagement_views import ContactRelation
from schemas.sms import ConsentSource
from services.cases.contact_texts import blocked_phones, queue_support_text
from services.cases.visits import CaseNotFound, VersionConflict, open_case_for_change
from services.crypto.fields import FieldCipher
from services.programs import Program
from services.sms import consent
from services.sms.texts import cancel_texts
from services.store import contact_records as contacts
from services.store.case_records import announce, audit, load_case
from services.store.repository import Store
from services.store.tables import case_contacts, sms_texts


class ContactRefused(ValueError):
    """A contact the store will not keep as given, with the reason."""


class ContactNotFound(ValueError):
    def __init__(self, case_id: str, contact_id: int) -> None:
        super().__init__(f"case {case_id} has no contact {contact_id}")


@dataclass(frozen=True)
class NewContact:
    name: str
    relation: ContactRelation
    phone: str | None  # E.164, checked by the caller
    sms_consent: bool = False


@dataclass(frozen=True)
class ContactChanged:
    case_id: str
    contact_id: int
    version: int


def add_contact(
    store: Store,
    cipher: FieldCipher,
    program: Program,
    case_id: str,
    new: NewContact,
    *,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
) -> ContactChanged:
    """A contact of an open case (module doc)."""
    if new.sms_consent and new.phone is None:
        raise ContactRefused("a contact's consent to texts needs their phone")
    token = consent.phone_token(cipher, new.phone) if new.phone else None
    with store.transaction() as conn:
        row = open_case_for_change(conn, case_id, expected_version)
        family = row.kind == CaseKind.FAMILY_SUPPORT.value
        person_id = contacts.family_of(conn, case_id) if family else row.person_id
        if new.sms_consent and token in blocked_phones(conn, row.program_id, person_id, case_id):
            raise ContactRefused(
                "that phone is the client's own or the deceased's: a contact's consent to "
                "texts cannot be given for it"
            )
        contact_id = contacts.insert_contact(
            conn, cipher, contacts.Contact(new.name, new.phone), case_id=case_id,
            program_id=row.program_id, person_id=person_id, relation=new.relation,
            phone_token=token, sms_consent=new.sms_consent, actor=actor, now=now,
        )  # fmt: skip
        if new.sms_consent and token is not None:
            consent.record(
                conn,
                [consent.consent_row(row.program_id, token, True, ConsentSource.VISIT, now,
                                     case_id=case_id)],
            )  # fmt: skip
        contacts.bump_version(conn, case_id, now)
        detail: dict[str, str | int | float | None] = {"contact_id": contact_id, "change": "added"}
        announce(conn, case_id, CaseEventKind.CONTACTS_CHANGED, now, detail)
        audit(conn, now, actor, "contact_added", "case", case_id,
              {"contact_id": contact_id, "relation": new.relation.value,
               "phone": token is not None, "sms_consent": new.sms_consent})  # fmt: skip
        if family:
            added = contacts.active_contact(conn, case_id, contact_id)
            queue_support_text(
                conn, cipher, program, added, person_id=person_id,
                due_at=max(row.window_opens_at, now), now=now,
            )  # fmt: skip
        return ContactChanged(case_id, contact_id, int(row.version) + 1)


def remove_contact(
    store: Store,
    case_id: str,
    contact_id: int,
    *,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
) -> ContactChanged:
    """The contact is no longer listed, texted or copied; open or closed case alike."""
    with store.transaction() as conn:
        row = load_case(conn, case_id, lock=True)
        if row is None:
            raise CaseNotFound(case_id)
        if expected_version is not None and row.version != expected_version:
            raise VersionConflict(case_id, row.version)
        if contacts.active_contact(conn, case_id, contact_id) is None:
            raise ContactNotFound(case_id, contact_id)
        conn.execute(
            update(case_contacts).where(case_contacts.c.id == contact_id).values(removed_at=now)
        )
        cancelled = cancel_texts(
            conn,
            and_(sms_texts.c.case_id == case_id, sms_texts.c.contact_id == contact_id),
            "contact removed",
            now,
        )
        contacts.bump_version(conn, case_id, now)
        detail: dict[str, str | int | float | None] = {
            "contact_id": contact_id,
            "change": "removed",
        }
        announce(conn, case_id, CaseEventKind.CONTACTS_CHANGED, now, detail)
        audit(conn, now, actor, "contact_removed", "case", case_id,
              {"contact_id": contact_id, "texts_cancelled": cancelled})  # fmt: skip
        return ContactChanged(case_id, contact_id, int(row.version) + 1)

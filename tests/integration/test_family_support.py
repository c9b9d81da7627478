"""Family support after a death, on the real store (SQLite and PostgreSQL), clock injected:
a fatal report of a known person opens one family-support case with the program's
window for the contacts of their earlier cases; a text goes to a contact only with the
contact's own consent, with words that say nothing of the client, and never to the
deceased's phone."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from schemas.cases import CaseKind, CaseStatus, Tier, VisitResult
from schemas.engagement_views import ContactRelation
from schemas.sms import TextState
from services.cases.contacts import ContactRefused, NewContact, add_contact, remove_contact
from services.cases.family_support import sweep_family_support
from services.cases.visits import record_outcome
from services.crypto.fields import FieldCipher
from services.programs import Program, parse_programs
from services.sms import consent
from services.sms.dispatch import Dispatcher
from services.sms.inbound import handle_reply
from services.sms.outbox_sender import LocalOutboxSender, read_outbox
from services.sms.templates import forbidden_words_in
from services.sms.texts import schedule_case_texts, to_aad
from services.store.contact_records import family_case_id, open_contact
from services.store.queue_reads import QueueFilters, queue_page
from services.store.repository import Store
from services.store.tables import (
    audit_log,
    case_contacts,
    case_events,
    cases,
    events,
    sms_texts,
    timers,
)
from tests.integration.engine_support import ALEX, PROGRAM_TOML, Scenario, overdose

ALEX_PHONE = "+13045550142"  # the client's phone, from their reports
SISTER = NewContact("Jordan Testperson", ContactRelation.FAMILY, "+13045550177", True)
FRIEND = NewContact("Sam Okafor", ContactRelation.FRIEND, "+13045550178", False)
PARTNER = NewContact("Riley Brandt", ContactRelation.PARTNER, "+13045550179", True)


class Family:
    """A scenario of a survivor, their contacts, their death and what follows."""

    def __init__(self, store: Store, cipher: FieldCipher, outbox: Path, extra: str = "") -> None:
        self.s = Scenario(store, cipher)
        self.s.programs = parse_programs(PROGRAM_TOML + extra)
        self.store, self.cipher = store, cipher
        self.sender = LocalOutboxSender(outbox, lambda to: self.token(to), lambda: self.s.now)

    @property
    def program(self) -> Program:
        return self.s.programs.programs[0]

    def token(self, phone: str) -> str:
        return consent.phone_token(self.cipher, phone)

    def survivor(self) -> str:
        self.s.report(overdose(patient=ALEX, consent={"sms": True}))
        (row,) = self.rows(CaseKind.OVERDOSE)
        assert schedule_case_texts(self.store, self.cipher, self.s.programs, row.id, self.s.now)
        return str(row.id)

    def add(self, case_id: str, new: NewContact) -> int:
        done = add_contact(
            self.store, self.cipher, self.program, case_id, new, actor="user:peer", now=self.s.now
        )
        return done.contact_id

    def die(self, source: str = "police", hours: float = 3) -> datetime:
        died = self.s.advance(hours=hours)
        self.s.report(overdose(source=source, at=died, patient=ALEX, fatal=True))
        return died

    def sweep(self) -> int:
        return sweep_family_support(self.store, self.s.programs, self.cipher, self.s.now)

    def rows(self, kind: CaseKind) -> list[Any]:
        with self.store.engine.connect() as conn:
            return list(conn.execute(select(cases).where(cases.c.kind == kind.value)).all())

    def family(self) -> Any:
        (row,) = self.rows(CaseKind.FAMILY_SUPPORT)
        return row

    def texts(self, case_id: str) -> list[Any]:
        with self.store.engine.connect() as conn:
            query = select(sms_texts).where(sms_texts.c.case_id == case_id)
            return list(conn.execute(query.order_by(sms_texts.c.id)).all())

    def contacts(self, case_id: str) -> list[Any]:
        with self.store.engine.connect() as conn:
            query = select(case_contacts).where(case_contacts.c.case_id == case_id)
            return list(conn.execute(query.order_by(case_contacts.c.id)).all())

    def dispatch(self) -> None:
        sender = Dispatcher(
            self.store, self.cipher, self.s.programs, self.sender, lambda: self.s.now,
            rate_per_s=1000,
        )  # fmt: skip
        asyncio.run(sender.run(until_idle=True))


def family(store: Store, cipher: FieldCipher, tmp_path: Path, extra: str = "") -> Family:
    return Family(store, cipher, tmp_path / "outbox.jsonl", extra)


def test_a_death_opens_a_family_case_and_texts_the_consenting_contact_only(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    f = family(store, cipher, tmp_path)
    case_id = f.survivor()
    sister, friend = f.add(case_id, SISTER), f.add(case_id, FRIEND)
    died = f.die()
    assert f.sweep() == 1

    row = f.family()
    assert (row.kind, row.status, row.tier) == ("family_support", "open", Tier.FAMILY_SUPPORT)
    assert row.tier_rank == 4, "below every survivor's case by default"
    assert (row.window_opens_at, row.window_due_at) == (
        died + timedelta(days=7),
        died + timedelta(days=30),
    )
    assert row.person_id is None, "no client: nothing that follows a living person touches it"
    (overdose_row,) = f.rows(CaseKind.OVERDOSE)
    assert row.id == family_case_id("example", overdose_row.person_id)
    with store.engine.connect() as conn:
        kinds = set(conn.execute(select(timers.c.kind).where(timers.c.case_id == row.id)).scalars())
    assert kinds == {"window_opened", "window_at_risk", "window_missed"}

    copies = f.contacts(row.id)
    originals = f.contacts(case_id)
    assert [c.relation for c in copies] == ["family", "friend"]
    assert {c.person_id for c in copies} == {overdose_row.person_id}
    for copy, original in zip(copies, originals, strict=True):
        assert copy.contact_sealed != original.contact_sealed, "sealed again for its own row"
        assert open_contact(cipher, copy.id, copy.contact_sealed) == open_contact(
            cipher, original.id, original.contact_sealed
        )

    (text,) = f.texts(row.id)  # the sister consented; the friend did not
    assert text.contact_id == copies[0].id and text.contact_id not in (sister, friend)
    assert text.state == TextState.QUEUED and text.kind == "support_check_in"
    assert cipher.open(text.to_sealed, to_aad(text.idempotency_key)) == SISTER.phone
    assert text.phone_token == f.token(SISTER.phone) != f.token(ALEX_PHONE)
    assert text.due_at == row.window_opens_at and text.person_id == overdose_row.person_id
    assert forbidden_words_in(text.body, ["Alex Testperson", "Jordan Testperson"]) == []
    assert "family" in text.body and "Community Support Team" in text.body

    # nothing to the deceased's phone: every text of theirs cancelled, none queued
    with store.engine.connect() as conn:
        to_them = conn.execute(
            select(sms_texts.c.state).where(sms_texts.c.phone_token == f.token(ALEX_PHONE))
        ).scalars()
        assert set(to_them) == {TextState.CANCELLED}
    f.s.now = row.window_opens_at + timedelta(minutes=1)
    f.dispatch()
    sent = read_outbox(f.sender.path)
    assert [(line["to_token"], line["body"]) for line in sent] == [
        (f.token(SISTER.phone), text.body)
    ], "one text, to the contact's number, in neutral words"


def test_a_text_to_a_contact_needs_their_own_consent(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    f = family(store, cipher, tmp_path)
    case_id = f.survivor()
    f.add(case_id, SISTER)  # consents
    f.add(case_id, FRIEND)  # does not
    f.add(case_id, PARTNER)  # consents, then texts STOP from that phone
    assert handle_reply(store, cipher, "SM" + "7" * 32, PARTNER.phone, "STOP", f.s.now)
    f.die()
    f.sweep()
    row = f.family()
    texted = {c.id for c in f.contacts(row.id) if c.phone_token == f.token(SISTER.phone)}
    assert {t.contact_id for t in f.texts(row.id)} == texted
    assert [cipher.open(t.to_sealed, to_aad(t.idempotency_key)) for t in f.texts(row.id)] == [
        SISTER.phone
    ]


def test_a_contacts_consent_cannot_be_given_for_the_clients_or_the_deceaseds_phone(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    f = family(store, cipher, tmp_path)
    case_id = f.survivor()
    same_phone = NewContact("Alex's phone", ContactRelation.FAMILY, ALEX_PHONE, True)
    try:
        f.add(case_id, same_phone)
        raise AssertionError("consent for the client's own phone was taken as a contact's")
    except ContactRefused as exc:
        assert "client's own" in str(exc)
    f.add(case_id, NewContact("Shared line", ContactRelation.FAMILY, ALEX_PHONE, False))
    f.die()
    f.sweep()
    row = f.family()
    assert [c.phone_token for c in f.contacts(row.id)] == [f.token(ALEX_PHONE)]
    assert f.texts(row.id) == [], "never to the deceased's phone"
    try:  # added to the family's case later, with consent: refused too
        f.add(row.id, same_phone)
        raise AssertionError("consent for the deceased's phone was accepted")
    except ContactRefused:
        pass


def test_the_same_death_reported_twice_opens_one_family_case(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    f = family(store, cipher, tmp_path)
    case_id = f.survivor()
    f.add(case_id, SISTER)
    f.die(source="ems")
    assert f.sweep() == 1
    f.die(source="police", hours=0.25)  # the other agency's report of the same death
    assert f.sweep() == 0 and f.sweep() == 0
    row = f.family()
    (text,) = f.texts(row.id)
    assert text.state == TextState.QUEUED, "the second report of the death leaves it alone"
    assert schedule_case_texts(store, cipher, f.s.programs, row.id, f.s.now) == 0
    assert f.texts(row.id)[0].state == TextState.QUEUED, "not the client's texts: kept"
    with store.engine.connect() as conn:
        fatal = conn.execute(select(events.c.id).where(events.c.fatal.is_(True))).all()
        opened = conn.execute(
            select(audit_log.c.subject_id).where(audit_log.c.action == "family_support_opened")
        ).all()
    assert len(fatal) == 2 and [o.subject_id for o in opened] == [row.id]


def test_no_contact_known_flags_the_case_until_one_is_added(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    f = family(store, cipher, tmp_path)
    f.survivor()
    f.die()
    f.sweep()
    row = f.family()
    (item,) = [i for i in store.queue("example") if i.case_id == row.id]
    assert item.contact_needed and item.tier == Tier.FAMILY_SUPPORT
    f.s.advance(days=10)  # the window is open: the check-in goes now
    f.add(row.id, SISTER)
    (item,) = [i for i in store.queue("example") if i.case_id == row.id]
    assert not item.contact_needed
    (text,) = f.texts(row.id)
    assert text.due_at == f.s.now and text.contact_id == f.contacts(row.id)[0].id

    record_outcome(
        store, row.id, outcome=VisitResult.CONTACTED_DECLINED, referral=None,
        actor="user:peer", now=f.s.now, tier_rules=f.program.tiers,
    )  # fmt: skip
    f.sweep()
    assert f.texts(row.id)[0].state == TextState.CANCELLED, "the family was reached"


def test_the_programs_window_and_rank(store: Store, cipher: FieldCipher, tmp_path: Path) -> None:
    settings = """
[program.family_support]
opens_after_days = 2
due_after_days = 10
rank_with_survivors = true
"""
    f = family(store, cipher, tmp_path, settings)
    f.survivor()
    died = f.die()
    f.sweep()
    row = f.family()
    assert (row.window_opens_at, row.window_due_at, row.tier_rank) == (
        died + timedelta(days=2),
        died + timedelta(days=10),
        0,
    )
    with store.engine.connect() as conn:
        shown = queue_page(conn, "example", QueueFilters(tiers=(Tier.FAMILY_SUPPORT,)), limit=10)
    assert [i.case_id for i in shown.items] == [row.id], "its tier filter still finds it"


def test_which_deaths_open_a_family_case(store: Store, cipher: FieldCipher, tmp_path: Path) -> None:
    f = family(store, cipher, tmp_path)
    stranger = {"first_name": "Noel", "last_name": "Unmet", "dob": "1971-05-05"}
    f.s.report(overdose(at=f.s.now, patient=stranger, fatal=True))
    assert f.sweep() == 0, "a person the program never followed up: no family known"

    case_id = f.survivor()
    f.s.advance(days=40)
    f.die()
    f.s.advance(days=31)  # learned of after the family's window would have closed
    assert f.sweep() == 0

    f2 = family(store, cipher, tmp_path / "staff")
    f2.s.now = f.s.now
    other = {"first_name": "Casey", "last_name": "Lindqvist", "dob": "1985-08-08"}
    f2.s.report(overdose(at=f2.s.now, patient=other))
    (staff_case,) = [r for r in f2.rows(CaseKind.OVERDOSE) if r.status == CaseStatus.OPEN]
    record_outcome(
        store, staff_case.id, outcome=VisitResult.DECEASED, referral=None, actor="user:coord",
        now=f2.s.now, tier_rules=f2.program.tiers,
    )  # fmt: skip
    assert f2.sweep() == 1, "a death recorded by staff counts too"
    (row,) = f2.rows(CaseKind.FAMILY_SUPPORT)
    assert row.id == family_case_id("example", staff_case.person_id)
    assert row.window_opens_at == f2.s.now + timedelta(days=7)
    assert case_id not in {r.id for r in f.rows(CaseKind.FAMILY_SUPPORT)}


def test_a_removed_contact_is_not_texted(store: Store, cipher: FieldCipher, tmp_path: Path) -> None:
    f = family(store, cipher, tmp_path)
    f.survivor()
    f.die()
    f.sweep()
    row = f.family()
    contact_id = f.add(row.id, SISTER)
    assert [t.state for t in f.texts(row.id)] == [TextState.QUEUED]
    remove_contact(store, row.id, contact_id, actor="user:peer", now=f.s.now)
    (text,) = f.texts(row.id)
    assert (text.state, text.reason) == (TextState.CANCELLED, "contact removed")


def test_two_sweepers_at_once_open_one_case_and_queue_one_text(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    f = family(store, cipher, tmp_path)
    f.add(f.survivor(), SISTER)
    f.die()
    with ThreadPoolExecutor(max_workers=2) as pool:
        opened = sorted(pool.map(lambda _: f.sweep(), range(2)))
    assert opened == [0, 1]
    row = f.family()
    assert len(f.texts(row.id)) == 1 and len(f.contacts(row.id)) == 1
    with store.engine.connect() as conn:
        (payload,) = conn.execute(
            select(case_events.c.payload).where(case_events.c.case_id == row.id)
        ).scalars()
    assert json.loads(payload)["detail"] == {
        "reason": "death", "case_kind": "family_support", "contacts": 1,
    }  # fmt: skip

"""A store for the retention tests, built through the product's own paths on a clock the
test moves: a person whose cases closed long ago (reports of both sources, texts sent
and cancelled, a reply, a visit with notes, a contact with a phone, a review, a treatment
referral), a case of nobody, a person whose case closed lately, a person with an open
case among closed ones, rejected feed records old and new, and old and new audit rows.
Times are counted back from what the processes take for now (tests/wall_clock.py), so a
`qrt retention run` started by the test sees the same history."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import String, Text, select

from schemas.cases import VisitResult
from schemas.codec import encode
from schemas.engagement_views import ContactRelation, TreatmentState
from schemas.intake import Origin, RejectReason
from services.cases import treatment
from services.cases.contacts import NewContact, add_contact
from services.cases.reviews import link_review, open_reviews
from services.cases.visits import VisitDetails, record_attempt, record_outcome
from services.crypto.fields import FieldCipher
from services.ingest.dead_letter import dead_letter
from services.ingest.rejections import Letter
from services.programs import Program, Programs, parse_programs
from services.sms import consent
from services.sms.dispatch import Dispatcher
from services.sms.inbound import handle_reply
from services.sms.outbox_sender import LocalOutboxSender
from services.sms.texts import schedule_case_texts
from services.store.case_records import audit
from services.store.rejection_records import keep_letters_or_refuse
from services.store.repository import Store
from services.store.tables import cases, metadata, persons
from tests import wall_clock
from tests.integration.engine_support import PROGRAM_TOML, Scenario, overdose

PROVIDER = """
[[program.provider]]
id = "harbor-moud"
name = "Harbor Medication Clinic"
kind = "moud"
"""


def programs_kept(years: int) -> Programs:
    """The scenario's program, keeping personal data `years` years."""
    return parse_programs(
        PROGRAM_TOML + PROVIDER + f"\n[program.retention]\npersonal_data_years = {years}\n"
    )


OLD_PERSON = {"first_name": "Quentavious", "last_name": "Zyndrell", "dob": "1987-06-14",
              "phone": "(304) 555-0187",
              "address": {"address": "4419 Wexmoor Lane", "zip": "25701"}}  # fmt: skip
RECENT_PERSON = {"first_name": "Marisol", "last_name": "Oyelaran-Whitcombe",
                 "dob": "1993-11-02", "phone": "+1 304 555 0163",
                 "address": {"address": "77 Brindlecombe Court", "zip": "25702"}}  # fmt: skip
OPEN_PERSON = {"first_name": "Philippa", "last_name": "Grindlewood", "dob": "1979-03-30",
               "phone": "(304) 555-0121"}  # fmt: skip
SECRETS = [
    "Quentavious", "Zyndrell", "1987-06-14", "3045550187", "Wexmoor", "Philomena",
    "Quarrington", "Ambrosine", "3045550199", "Dunkerley", "Fernleigh", "Leocadia",
    "Marisol", "Oyelaran", "1993-11-02", "3045550163", "Brindlecombe", "Odalys", "Penhallow",
    "Philippa", "Grindlewood", "1979-03-30", "3045550121", "Saltmarsh",
]  # fmt: skip


@dataclass
class Built:
    now: datetime  # what the processes took for now when it was built
    old_persons: list[str]
    recent_persons: list[str]
    open_persons: list[str]
    nobody_cases: list[str]
    audit_old_at: datetime


def _day(at: datetime) -> datetime:
    """11:00 New York time of that day (no quiet hours, no date line to cross)."""
    local = at.astimezone(wall_clock.ZONE).replace(hour=11, minute=0, second=0, microsecond=0)
    return local.astimezone(at.tzinfo)


class Builder:
    def __init__(self, store: Store, cipher: FieldCipher, outbox: Path) -> None:
        self.store, self.cipher = store, cipher
        self.programs = programs_kept(7)
        self.program: Program = self.programs.programs[0]
        self.scene = Scenario(store, cipher)
        self.scene.programs = self.programs
        self.sender = LocalOutboxSender(
            outbox, lambda to: consent.phone_token(cipher, to), lambda: self.scene.now
        )
        self.sid = 0

    def at(self, when: datetime) -> None:
        self.scene.now = when

    def persons(self) -> set[str]:
        with self.store.engine.connect() as conn:
            return set(conn.execute(select(persons.c.id)).scalars())

    def open_cases_of(self, person_ids: set[str] | None) -> list[Any]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(cases).where(cases.c.status == "open")).all()
        return [r for r in rows if person_ids is None or r.person_id in person_ids]

    def texts(self, case_id: str) -> None:
        schedule_case_texts(self.store, self.cipher, self.programs, case_id, self.scene.now)

    def dispatch(self) -> None:
        dispatcher = Dispatcher(
            self.store, self.cipher, self.programs, self.sender, lambda: self.scene.now,
            rate_per_s=1000,
        )  # fmt: skip
        asyncio.run(dispatcher.run(until_idle=True))

    def reply(self, phone: str, body: str) -> None:
        self.sid += 1
        handle_reply(self.store, self.cipher, f"SM{self.sid:032d}", phone, body, self.scene.now)

    def visit(self, case_id: str, notes: str, result: VisitResult) -> None:
        record_attempt(
            self.store, case_id, result=result, at=self.scene.now, team_id="day",
            referral=None, actor="t", now=self.scene.now, cipher=self.cipher,
            details=VisitDetails(notes=notes, needs=("housing",)),
        )  # fmt: skip

    def close(self, case_id: str, outcome: VisitResult) -> None:
        record_outcome(
            self.store, case_id, outcome=outcome, referral=None, actor="t",
            now=self.scene.now, tier_rules=self.program.tiers,
        )  # fmt: skip

    def contact(self, case_id: str, name: str, phone: str) -> None:
        add_contact(
            self.store, self.cipher, self.program, case_id,
            NewContact(name=name, relation=ContactRelation.FAMILY, phone=phone,
                       sms_consent=True),
            actor="t", now=self.scene.now,
        )  # fmt: skip

    def refer(self, case_id: str) -> None:
        provider = treatment.provider_of(self.programs, "example", "harbor-moud")
        referral = treatment.refer(self.store, case_id, provider, actor="t", now=self.scene.now)
        treatment.move(
            self.store, referral, TreatmentState.ENTERED, None, actor="t", now=self.scene.now
        )

    def rejection(self, at: datetime, agency: str, offset: int) -> None:
        raw = (
            f'{{"event_id": "r-{offset}", "source": "ems", "agency_id": "{agency}", '
            '"patient": {"first_name": "Ambrosine", "phone": "+13045550199"}}'
        ).encode()
        origin = Origin(topic="overdose.ems.v1", partition=0, offset=offset)
        value = encode(dead_letter(raw, origin, at, RejectReason.INVALID_EVENT, "no time"))
        letter = Letter(value=value, topic="overdose.rejected.v1", partition=0, offset=offset)
        assert keep_letters_or_refuse(self.store, self.cipher, self.programs, [letter], at) == []


def _old_person(b: Builder, start: datetime) -> list[str]:
    b.at(start)
    place = {"address": "Dunkerley Heights 12", "zip": "25701", "county_fips": "54011"}
    b.scene.report(
        overdose(at=start, patient=OLD_PERSON, location=place, consent={"sms": True}),
        overdose(source="police", at=start + timedelta(minutes=10), location=place),
    )
    mine = b.persons()
    case_id = b.open_cases_of(mine)[0].id
    b.texts(case_id)
    b.at(start + timedelta(days=1))
    b.dispatch()
    b.reply("+13045550187", "Quentavious here, call me")
    variant = {**OLD_PERSON, "first_name": "Quentavius", "dob": "1987-04-16", "phone": None}
    b.scene.report(overdose(at=b.scene.now, patient=variant))
    for review in open_reviews(b.store, "example"):
        link_review(b.store, review.id, actor="t", now=b.scene.now, program=b.program)
    b.at(start + timedelta(days=2))
    b.visit(case_id, "his aunt Philomena Quarrington answered", VisitResult.CONTACTED_DECLINED)
    b.contact(case_id, "Ambrosine Zyndrell", "+13045550199")
    b.refer(case_id)
    b.at(start + timedelta(days=5))
    mine = b.persons()
    for row in b.open_cases_of(mine):
        b.close(row.id, VisitResult.CONTACTED_DECLINED)
    return sorted(mine)


def _nobody(b: Builder, at: datetime) -> list[str]:
    b.at(at)
    before = {r.id for r in b.open_cases_of(None)}
    place = {"address": "Fernleigh Crescent 9", "zip": "25703", "county_fips": "54011"}
    b.scene.report(overdose(source="police", at=at, location=place))
    new = [r.id for r in b.open_cases_of(None) if r.id not in before]
    b.at(at + timedelta(days=1))
    for case_id in new:
        b.visit(case_id, "neighbour Leocadia Fairweather saw him", VisitResult.NOT_LOCATED)
        b.close(case_id, VisitResult.NOT_LOCATED)
    return new


def _recent_person(b: Builder, recent: datetime) -> tuple[list[str], str]:
    b.at(recent)
    known = b.persons()
    b.scene.report(overdose(at=recent, patient=RECENT_PERSON, consent={"sms": True}))
    mine = sorted(b.persons() - known)
    (case_id,) = [r.id for r in b.open_cases_of(set(mine))]
    b.texts(case_id)
    b.at(recent + timedelta(days=1))
    b.dispatch()
    b.reply("+13045550163", "this is Marisol")
    b.visit(case_id, "her sister Odalys Penhallow was there", VisitResult.CONTACTED_DECLINED)
    b.at(recent + timedelta(days=2))
    b.close(case_id, VisitResult.CONTACTED_DECLINED)
    return mine, case_id


def build(store: Store, cipher: FieldCipher, tmp_path: Path) -> Built:
    now = wall_clock.now()
    b = Builder(store, cipher, tmp_path / "outbox.jsonl")
    old = _day(now - timedelta(days=800))
    old_persons = _old_person(b, old)
    nobody = _nobody(b, old + timedelta(days=6))
    b.at(old + timedelta(days=8))  # a person with a case among the old ones, open again later
    b.scene.report(overdose(at=b.scene.now, patient=OPEN_PERSON))
    open_persons = sorted(b.persons() - set(old_persons))
    b.at(old + timedelta(days=10))
    for row in b.open_cases_of(set(open_persons)):
        b.close(row.id, VisitResult.NOT_LOCATED)
    b.at(old + timedelta(days=40))
    b.dispatch()  # the old cases' later texts: cancelled, their cases are closed
    recent_persons, _ = _recent_person(b, _day(now - timedelta(days=40)))
    b.at(_day(now - timedelta(days=5)))
    b.dispatch()  # the recent case's later texts: cancelled
    b.scene.report(overdose(at=b.scene.now, patient=OPEN_PERSON))  # a new case, open
    b.visit(b.open_cases_of(set(open_persons))[0].id, "at Saltmarsh Row", VisitResult.NOT_LOCATED)
    b.rejection(old, "EMS-1", 1)
    b.rejection(old, "ELSEWHERE", 2)  # traced to no program
    b.rejection(now - timedelta(days=1), "EMS-1", 3)
    audit_old_at = now - timedelta(days=365 * 6 + 30)
    with store.transaction() as conn:
        for n in range(3):
            audit(conn, audit_old_at + timedelta(minutes=n), "t", "probe", "test", str(n))
    return Built(now, old_persons, recent_persons, open_persons, nobody, audit_old_at)


def text_values(store: Store) -> list[str]:
    """Every value of every text column of every table."""
    found: list[str] = []
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            for row in conn.execute(select(*columns)) if columns else []:
                found.extend(str(v) for v in row if v is not None)
    return found

"""A known month for the report's tests: October 2026 of the example program (New York),
built in time order through the write paths the workers and the API use (open_cases,
record_attempt, record_outcome, treatment referrals and their moves, texts scheduled and
sent through twilio-python to the fake Twilio, a STOP reply, dead letters kept), with a
clock that only moves forward. The figures it must give are in test_report_figures.py.

What happens (UTC; New York is UTC-4 until 1 November, 02:00):
- Aug 10 Gale overdoses (case CG), contacted Aug 11; Sep 20 Drew overdoses (C0, a text
  sent Sep 21, contacted Sep 21);
- Sep 30 23:30 New York (Oct 1 03:30Z) EMS reports Fay, police 40 min later (Oct 1 04:10Z):
  one incident of September whose second report falls in October; her case is contacted
  Oct 2 (a first contact of October of a September case);
- Oct 2 Alex (EMS, then police 40 min later: one incident, C1), not located Oct 3,
  texted and answers STOP Oct 3, contacted Oct 5 (80 h), overdoses again Oct 20 (police,
  joins C1 as a repeat overdose), contacted again Oct 21 with a detox referral;
- Oct 3 Gale's second overdose, reported only Nov 10: too old for a case, still counted;
- Oct 5 Blair (C2): text delivered Oct 6, contacted Oct 6 (20 h) with a MOUD referral,
  referred to Harbor (moud), entered Oct 8, retained 30 days Nov 8 and 90 days Jan 7;
- Oct 8 Casey (C3, police): the text fails (21211), not located Oct 9, contacted Oct 11
  (74 h, after the window), referred to Riverside (detox) and never entered;
- Oct 10 Drew again (C4; no texts: a "no" to texts with the report), never attempted;
- Oct 12 Emery dies (a fatal report: no case); Oct 25 a fatal report naming nobody;
- Oct 14 a sheriff's report naming nobody (C5), not located Oct 15 (materials left), closed;
- Oct 16 a family member refers Rowan (a referral case, R1), contacted the same day,
  referred to Hillside (residential), entered Oct 20;
- Oct 31 23:30 New York (Nov 1 03:30Z) a report naming nobody (C6, still October), contacted
  11.5 h later with no team recorded; Nov 1 01:30 New York a report of November (C7);
- feed records rejected: Sep 30 (before), Oct 15 and Oct 20 (EX-EMS-01, invalid),
  Oct 22 (EX-PD-01, in the future), Nov 2 (after).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from schemas.cases import Referral, VisitResult
from schemas.codec import encode
from schemas.engagement_views import TreatmentState
from schemas.intake import IntakeRecord, Origin, RejectReason
from schemas.overdose_event import OverdoseEvent
from schemas.visits import ServiceGiven, VisitMethod
from services.cases import treatment
from services.cases.opening import open_cases
from services.cases.visits import VisitDetails, record_attempt, record_outcome
from services.crypto.fields import FieldCipher
from services.ingest.dead_letter import dead_letter
from services.ingest.rejections import Letter
from services.programs import Program, Programs, load_programs
from services.sms.delivery import apply_statuses, keep_status
from services.sms.dispatch import Dispatcher
from services.sms.inbound import handle_reply
from services.sms.texts import schedule_case_texts
from services.sms.twilio_sender import TwilioSender
from services.store.rejection_records import keep_letters_or_refuse
from services.store.repository import Store
from services.store.tables import events, sms_texts
from tests.integration.referral_support import referral
from tests.support_twilio import FakeTwilio

PROGRAMS: Programs = load_programs(None)
PROGRAM: Program = PROGRAMS.programs[0]
ACCOUNT, TOKEN = "AC" + "b" * 32, "report-auth-token"
GENERATED = datetime(2027, 1, 10, 15, 0, tzinfo=UTC)  # when the report is asked for


def person(first: str, last: str, dob: str, phone: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"first_name": first, "last_name": last, "dob": dob}
    return found | ({"phone": phone} if phone else {})


ALEX = person("Alex", "Quorvane", "1988-02-03", "+13045550111")
BLAIR = person("Blair", "Ostrander", "1975-06-07", "+13045550122")
CASEY = person("Casey", "Wendelmore", "1992-09-10", "+13045550133")
DREW = person("Drew", "Halvorsen", "1980-11-12", "+13045550144")
EMERY = person("Emery", "Tallisford", "1969-01-15")
FAY = person("Fay", "Brightwater", "1995-03-04")
GALE = person("Gale", "Northcott", "1983-07-08")


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@dataclass
class Month:
    """The store being built, its clock, and the cases by the names the module doc uses."""

    store: Store
    cipher: FieldCipher
    fake: FakeTwilio
    now: datetime = datetime(2026, 8, 1, tzinfo=UTC)
    cases: dict[str, str] = field(default_factory=dict)
    referrals: dict[str, str] = field(default_factory=dict)
    serial: int = 0

    def clock(self) -> datetime:
        return self.now

    def to(self, when: datetime) -> datetime:
        assert when >= self.now, f"the clock only moves forward ({when} < {self.now})"
        self.now = when
        return when

    def report(
        self, name: str | None, source: str, agency: str, occurred: datetime,
        patient: dict[str, Any] | None = None, *, fatal: bool = False,
        sms: bool | None = None, reported: datetime | None = None,
    ) -> None:  # fmt: skip
        """An overdose report, stored (as the case worker would) 5 minutes after it
        happened unless `reported` says when; `name` names the case it opens."""
        self.serial += 1
        event_id = f"{source}-{self.serial}"
        data: dict[str, Any] = {
            "event_id": event_id, "source": source, "agency_id": agency,
            "incident_number": f"INC-{self.serial}", "occurred_at": occurred.isoformat(),
            "location": {"county_fips": "54011"}, "patient": patient, "fatal": fatal,
            "consent": {} if sms is None else {"sms": sms},
        }  # fmt: skip
        now = self.to(reported or occurred + timedelta(minutes=5))
        record = IntakeRecord(
            program_id=PROGRAM.id, event=OverdoseEvent.model_validate(data),
            origin=Origin(topic="followup.intake.v1", partition=0, offset=self.serial),
            received_at=now,
        )  # fmt: skip
        open_cases(self.store, [record], PROGRAMS, now, self.cipher)
        if name is not None:
            self.cases[name] = self.case_of(event_id)

    def case_of(self, event_id: str) -> str:
        with self.store.engine.connect() as conn:
            found = conn.execute(select(events.c.case_id).where(events.c.event_id == event_id))
            case_id = found.scalar_one()
        assert case_id is not None, event_id
        return str(case_id)

    def attempt(
        self, name: str, when: datetime, result: VisitResult, team: str | None = None,
        referral_to: Referral | None = None, **details: Any,
    ) -> None:  # fmt: skip
        record_attempt(
            self.store, self.cases[name], result=result, at=when, team_id=team,
            referral=referral_to, actor="user:peer", now=self.to(when + timedelta(minutes=10)),
            details=VisitDetails(**details), cipher=self.cipher,
        )  # fmt: skip

    def close(
        self, name: str, when: datetime, outcome: VisitResult, ref: Referral | None = None
    ) -> None:
        record_outcome(
            self.store, self.cases[name], outcome=outcome, referral=ref, actor="user:peer",
            now=self.to(when), tier_rules=PROGRAM.tiers,
        )  # fmt: skip
        self.texts_of(name)  # as the SMS worker does on the case's event

    def texts_of(self, name: str) -> None:
        schedule_case_texts(self.store, self.cipher, PROGRAMS, self.cases[name], self.now)

    def refer(self, key: str, name: str, provider_id: str, when: datetime) -> None:
        provider = treatment.provider_of(PROGRAMS, PROGRAM.id, provider_id)
        self.referrals[key] = treatment.refer(
            self.store, self.cases[name], provider, actor="user:peer", now=self.to(when)
        )

    def move(self, key: str, state: TreatmentState, when: datetime) -> None:
        treatment.move(
            self.store, self.referrals[key], state, when, actor="user:peer", now=self.to(when)
        )

    def dispatch(self, when: datetime) -> None:
        self.to(when)
        sender = TwilioSender(
            ACCOUNT, TOKEN, from_number="+13045550100", api_base_url=self.fake.base_url
        )
        d = Dispatcher(self.store, self.cipher, PROGRAMS, sender, self.clock, rate_per_s=1000)

        async def go() -> None:
            try:
                await d.run(until_idle=True)
            finally:
                await sender.close()

        asyncio.run(go())

    def delivered(self, name: str, when: datetime) -> None:
        """Twilio's callback: the case's text was delivered (as POST /twilio/status does)."""
        with self.store.transaction() as conn:
            sid = conn.execute(
                select(sms_texts.c.twilio_sid).where(
                    sms_texts.c.case_id == self.cases[name], sms_texts.c.twilio_sid.is_not(None)
                )
            ).scalar_one()
            keep_status(conn, sid, "delivered", None, self.to(when))
            apply_statuses(conn, sid, when)


def build_month(store: Store, cipher: FieldCipher, fake: FakeTwilio) -> Month:
    """The month of the module doc, in the store; the clock left at GENERATED."""
    m = Month(store, cipher, fake)
    fake.clock = m.clock  # Twilio's clock and ours agree
    fake.script.refuse[CASEY["phone"]] = 21211  # an invalid number: the text fails
    _before(m)
    _first_week(m)
    _second_week(m)
    _rest(m)
    _rejections(m)
    m.to(GENERATED)
    return m


def _before(m: Month) -> None:
    m.report("CG", "ems", "EX-EMS-01", at(8, 10, 14), GALE)
    m.attempt("CG", at(8, 11, 15), VisitResult.CONTACTED_DECLINED, "day-east")
    m.close("CG", at(8, 11, 16), VisitResult.CONTACTED_DECLINED)
    m.report("C0", "ems", "EX-EMS-01", at(9, 20, 14), DREW, sms=True)
    m.texts_of("C0")
    m.dispatch(at(9, 21, 12, 30))  # Drew's check-in: a text of September
    m.attempt("C0", at(9, 21, 15), VisitResult.CONTACTED_DECLINED, "day-east")
    m.close("C0", at(9, 21, 16), VisitResult.CONTACTED_DECLINED)
    m.report("CF", "ems", "EX-EMS-01", at(10, 1, 3, 30), FAY)  # Sep 30, 23:30 in New York
    m.report(None, "police", "EX-PD-01", at(10, 1, 4, 10), FAY)  # the same incident


def _first_week(m: Month) -> None:
    m.report("C1", "ems", "EX-EMS-01", at(10, 2, 13), ALEX, sms=True)
    m.texts_of("C1")
    m.report(None, "police", "EX-PD-01", at(10, 2, 13, 40), ALEX)  # the same incident
    m.attempt("CF", at(10, 2, 14), VisitResult.CONTACTED_DECLINED, "weekend")
    m.attempt("C1", at(10, 3, 10), VisitResult.NOT_LOCATED, "day-east")
    m.dispatch(at(10, 3, 12, 30))  # Alex's check-in (deferred from 21:00 to 08:00)
    handle_reply(m.store, m.cipher, "SM" + uuid.uuid4().hex, ALEX["phone"], "STOP",
                 m.to(at(10, 3, 13)))  # fmt: skip
    m.report("C2", "ems", "EX-EMS-02", at(10, 5, 18), BLAIR, sms=True)
    m.texts_of("C2")
    m.attempt("C1", at(10, 5, 21), VisitResult.CONTACTED_DECLINED_FUTURE_INTEREST, "evening")
    m.dispatch(at(10, 6, 12, 30))  # Blair's check-in
    m.delivered("C2", at(10, 6, 12, 31))
    m.attempt(
        "C2", at(10, 6, 14), VisitResult.CONTACTED_ACCEPTED_TREATMENT, "day-east", Referral.MOUD,
        method=VisitMethod.IN_PERSON, needs=("transportation", "insurance"), barriers=("cost",),
        services=(ServiceGiven.NALOXONE_KIT, ServiceGiven.TREATMENT_INFO),
    )  # fmt: skip
    m.refer("blair", "C2", "harbor-moud", at(10, 6, 15))
    m.close("C2", at(10, 6, 15, 30), VisitResult.CONTACTED_ACCEPTED_TREATMENT, Referral.MOUD)


def _second_week(m: Month) -> None:
    m.report("C3", "police", "EX-PD-01", at(10, 8, 2), CASEY, sms=True)
    m.texts_of("C3")
    m.dispatch(at(10, 8, 14, 30))  # Casey's check-in: refused, 21211
    m.move("blair", TreatmentState.ENTERED, at(10, 8, 15))
    m.attempt("C3", at(10, 9, 14), VisitResult.NOT_LOCATED, "day-east")
    m.report("C4", "ems", "EX-EMS-01", at(10, 10, 12), DREW, sms=False)
    m.attempt(
        "C3", at(10, 11, 4), VisitResult.CONTACTED_DECLINED, "evening",
        needs=("housing", "transportation"), barriers=("transportation",),
        services=(ServiceGiven.NALOXONE_KIT, ServiceGiven.FENTANYL_TEST_STRIPS),
    )  # fmt: skip
    m.refer("casey", "C3", "riverside-detox", at(10, 11, 5))
    m.report(None, "ems", "EX-EMS-01", at(10, 12, 6), EMERY, fatal=True)
    m.report("C5", "police", "EX-SO-01", at(10, 14, 15))
    m.attempt(
        "C5", at(10, 15, 13), VisitResult.NOT_LOCATED, "weekend",
        method=VisitMethod.MATERIALS_LEFT, services=(ServiceGiven.HARM_REDUCTION_SUPPLIES,),
    )  # fmt: skip
    m.close("C5", at(10, 15, 14), VisitResult.NOT_LOCATED)


def _rest(m: Month) -> None:
    m.to(at(10, 16, 14, 5))
    found = referral(PROGRAMS, m.now, kind="family", referred_at=at(10, 16, 14).isoformat())
    open_cases(m.store, [found], PROGRAMS, m.now, m.cipher)
    m.cases["R1"] = m.case_of(found.event.event_id)
    m.attempt(
        "R1", at(10, 16, 20), VisitResult.CONTACTED_ACCEPTED_TREATMENT, "evening",
        Referral.TRANSITIONAL_SUPPORT, needs=("phone",), services=(ServiceGiven.PEER_SUPPORT,),
    )  # fmt: skip
    m.refer("rowan", "R1", "hillside-recovery", at(10, 16, 21))
    m.move("rowan", TreatmentState.ENTERED, at(10, 20, 15))
    m.report(None, "police", "EX-PD-01", at(10, 20, 16), ALEX)  # a repeat overdose: joins C1
    m.attempt(
        "C1", at(10, 21, 14), VisitResult.CONTACTED_ACCEPTED_TREATMENT, "day-east",
        Referral.DETOX, services=(ServiceGiven.NALOXONE_KIT,),
    )  # fmt: skip
    m.report(None, "ems", "EX-EMS-01", at(10, 25, 20), fatal=True)
    m.report("C6", "ems", "EX-EMS-02", at(11, 1, 3, 30))  # Oct 31, 23:30 in New York
    m.report("C7", "police", "EX-PD-01", at(11, 1, 6, 30))  # Nov 1, 01:30 in New York
    m.attempt("C6", at(11, 1, 15), VisitResult.CONTACTED_DECLINED)
    m.move("blair", TreatmentState.RETAINED_30D, at(11, 8, 16))
    m.report(None, "ems", "EX-EMS-01", at(10, 3, 12), GALE, reported=at(11, 10, 12))  # too old
    m.move("blair", TreatmentState.RETAINED_90D, at(1, 7, 16, year=2027))


def _rejections(m: Month) -> None:
    """Dead letters as the intake worker writes them, kept as the case worker keeps them."""
    kept = [
        (at(9, 30, 12), "EX-EMS-01", RejectReason.INVALID_EVENT),
        (at(10, 15, 9), "EX-EMS-01", RejectReason.INVALID_EVENT),
        (at(10, 20, 9), "EX-EMS-01", RejectReason.INVALID_EVENT),
        (at(10, 22, 9), "EX-PD-01", RejectReason.FUTURE_TIME),
        (at(11, 2, 9), "EX-EMS-01", RejectReason.INVALID_EVENT),
    ]
    letters = []
    for i, (when, agency, reason) in enumerate(kept):
        raw = json.dumps({"event_id": f"bad-{i}", "source": "ems", "agency_id": agency}).encode()
        origin = Origin(topic="overdose.ems.v1", partition=0, offset=100 + i)
        value = encode(dead_letter(raw, origin, when, reason, f"{reason.value} at {i}"))
        letters.append(Letter(value=value, topic="overdose.rejected.v1", partition=0, offset=i))
    assert keep_letters_or_refuse(m.store, m.cipher, PROGRAMS, letters, m.now) == []

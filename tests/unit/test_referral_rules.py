"""Referrals without a database: the contract (a way to reach the person), the screening
(routing, refusals with a reason, what the case engine reads), the window per kind and
urgency, and the case engine's verdict. The store tests (tests/integration/
test_referrals.py) check the same rules through the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.cases import ReferralKind, Tier, VisitResult
from schemas.codec import encode
from schemas.intake import IntakeRecord, Origin, RejectedEvent, RejectReason
from schemas.overdose_event import Source
from schemas.referral_event import UNREACHABLE, Urgency
from services.cases.tiering import PastCase
from services.core import cases as core
from services.core.referrals import REFERRAL_JOIN, decide_referral, referral_window
from services.identity.matching import Decision, PersonFeatures
from services.ingest.referral_screening import screen_referral
from services.ingest.rejections import Letter, letter_facts
from services.ingest.screening import ScreeningRules, screen
from services.programs import Program, load_programs, parse_programs

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
ORIGIN = Origin(topic="referral.v1", partition=0, offset=7)
PROGRAMS = load_programs(None)  # the bundled example: EX-EMS-01 ... listed, county 54011


def referral(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "referral_id": "ref-1",
        "program_id": "example",
        "kind": "self",
        "referred_at": "2026-11-22T09:00:00-05:00",
        "person": {"first_name": "Dana", "phone": "+13045550142"},
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def run(data: dict[str, Any] | bytes) -> IntakeRecord | RejectedEvent:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return screen_referral(raw, ORIGIN, programs=PROGRAMS, now=NOW, rules=ScreeningRules())


def refused(data: dict[str, Any] | bytes) -> RejectedEvent:
    found = run(data)
    assert isinstance(found, RejectedEvent), found
    assert found.origin == ORIGIN and found.original()  # the bytes travel with it
    return found


def test_a_referral_becomes_a_report_the_case_engine_reads() -> None:
    found = run(referral(kind="family", referrer={"name": "Rae", "phone": "+13045550100"}))
    assert isinstance(found, IntakeRecord) and found.program_id == "example"
    event = found.event
    assert (event.source, event.agency_id, event.event_id) == (Source.REFERRAL, "example", "ref-1")
    assert event.fatal is False and event.location.model_dump(exclude_none=True) == {}
    assert event.occurred_at == datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
    assert event.patient is not None and event.patient.phone == "+13045550142"
    assert "Rae" not in event.model_dump_json()  # the referrer rides only in the referral
    assert found.referral is not None and found.referral.referrer is not None


@pytest.mark.parametrize(
    "person",
    [
        {"phone": "+13045550142"},
        {"address": {"address": "12 Elm St"}},
        {"first_name": "Dana", "address": {"city": "Huntington"}},
        {"last_name": "Example", "address": {"zip": "25701"}},
        {"first_name": "Dana", "where": "the shelter on 5th Ave"},
    ],
)
def test_a_way_to_reach_the_person_is_enough(person: dict[str, Any]) -> None:
    assert isinstance(run(referral(person=person)), IntakeRecord)


@pytest.mark.parametrize(
    "person",
    [None, {}, {"first_name": "Dana", "last_name": "Example"}, {"where": "behind the library"}],
)
def test_no_way_to_reach_the_person_is_refused_saying_so(person: dict[str, Any] | None) -> None:
    found = refused(referral(person=person))
    assert found.reason is RejectReason.INVALID_EVENT
    assert UNREACHABLE in found.detail
    assert [e.field for e in found.errors] == ["person"]


def test_refusals_name_the_problem() -> None:
    assert refused(b'{"referral_id": ').reason is RejectReason.MALFORMED_JSON
    bad_kind = refused(referral(kind="neighbour"))
    assert bad_kind.reason is RejectReason.INVALID_EVENT and "kind" in bad_kind.detail
    naive = refused(referral(referred_at="2026-11-22T09:00:00"))
    assert "UTC offset" in naive.detail
    assert "number" in refused(referral(referred_at=1764000000)).detail
    unnamed = refused(referral(program_id=None))
    assert "program_id" in unnamed.detail and "agency_id" in unnamed.detail
    late = refused(referral(referred_at=(NOW + timedelta(hours=3)).isoformat()))
    assert late.reason is RejectReason.FUTURE_TIME
    nul = refused(referral(notes="call \x00 her"))
    assert "control character" in nul.detail


def test_routing_by_program_partner_agency_or_county() -> None:
    unknown = refused(referral(program_id="elsewhere"))
    assert unknown.reason is RejectReason.UNROUTABLE and "elsewhere" in unknown.detail
    stranger = refused(referral(agency_id="ST-MARY-ER"))
    assert stranger.reason is RejectReason.UNROUTABLE and "not a partner" in stranger.detail
    partner = run(referral(agency_id="EX-EMS-01"))
    assert isinstance(partner, IntakeRecord) and partner.event.agency_id == "EX-EMS-01"
    by_agency = run(referral(program_id=None, agency_id="EX-PD-01"))
    assert isinstance(by_agency, IntakeRecord) and by_agency.program_id == "example"
    by_county = run(
        referral(
            program_id=None, agency_id="ST-MARY-ER",
            person={"phone": "+13045550142", "address": {"county_fips": "54011"}},
        )
    )  # fmt: skip
    assert isinstance(by_county, IntakeRecord) and by_county.program_id == "example"


def test_only_the_persons_own_yes_to_texts_counts() -> None:
    said_yes = {"sms": True, "visit": True}
    own = run(referral(kind="self", consent=said_yes))
    assert isinstance(own, IntakeRecord) and own.event.consent.sms is True
    family = run(referral(kind="family", consent=said_yes))
    assert isinstance(family, IntakeRecord) and family.event.consent.sms is None
    said_no = run(referral(kind="friend", consent={"sms": False}))
    assert isinstance(said_no, IntakeRecord) and said_no.event.consent.sms is False


def test_an_overdose_publisher_may_not_send_a_referral_source() -> None:
    raw = json.dumps(
        {"event_id": "e-1", "source": "referral", "agency_id": "EX-EMS-01",
         "occurred_at": "2026-11-22T08:30:00-05:00", "location": {"county_fips": "54011"}}
    ).encode()  # fmt: skip
    found = screen(raw, Origin(topic="gateway", partition=0, offset=0), programs=PROGRAMS,
                   now=NOW, rules=ScreeningRules())  # fmt: skip
    assert isinstance(found, RejectedEvent) and found.reason is RejectReason.SOURCE_MISMATCH
    assert "referral.v1" in found.detail


AT = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "due_hours"),
    [("walk_in", 4), ("family", 24), ("self", 24), ("friend", 24), ("hospital", 24),
     ("provider", 48), ("court", 72), ("other", 72)],
)  # fmt: skip
def test_each_kind_has_a_default_window(kind: str, due_hours: int) -> None:
    window = referral_window(AT, ReferralKind(kind), None, Program(id="p", name="P").referrals)
    assert (window.opens_at, window.due_at) == (AT, AT + timedelta(hours=due_hours))


def test_a_program_sets_its_own_window_per_kind_and_urgency() -> None:
    programs = parse_programs(
        '[[program]]\nid = "p"\nname = "P"\n'
        "[program.referrals]\n"
        "court = { opens_after_hours = 24, due_after_hours = 96 }\n"
        "[program.referrals.urgency_due_hours]\nnow = 2\n"
    )
    rules = programs.programs[0].referrals
    court = referral_window(AT, ReferralKind.COURT, None, rules)
    assert (court.opens_at, court.due_at) == (AT + timedelta(hours=24), AT + timedelta(hours=96))
    urgent = referral_window(AT, ReferralKind.COURT, Urgency.NOW, rules)
    assert (urgent.opens_at, urgent.due_at) == (AT, AT + timedelta(hours=2))  # opens at once
    week = referral_window(AT, ReferralKind.COURT, Urgency.THIS_WEEK, rules)
    assert week == court  # an urgency never makes a referral due later than its kind's
    with pytest.raises(Exception, match="due_after_hours"):
        parse_programs(
            '[[program]]\nid = "p"\nname = "P"\n[program.referrals]\n'
            "walk_in = { opens_after_hours = 5, due_after_hours = 4 }\n"
        )


def _report(person: str | None = "person-1", hours_ago: float = 1) -> core.Report:
    return core.Report(
        "referral|example|ref-1", "referral", NOW - timedelta(hours=hours_ago), False, person,
        Decision.LINK, None, frozenset(), PersonFeatures(),
    )  # fmt: skip


def _known(**values: Any) -> core.Known:
    return core.Known(
        recent=core.RecentIndex(),
        open_by_person=values.get("open_by_person", {}),
        history=values.get("history", {}),
        features={},
    )


PROGRAM = Program(id="example", name="Example")


def test_a_referral_joins_the_persons_open_case_and_never_moves_it() -> None:
    known = _known(open_by_person={"person-1": ("case-9", NOW - timedelta(hours=30))})
    verdict = decide_referral(_report(), ReferralKind.FAMILY, Urgency.NOW, known, PROGRAM, NOW)
    assert verdict == core.JoinCase("case-9", REFERRAL_JOIN)  # no rewindow: not an overdose


def test_a_referral_opens_a_case_tiered_from_the_persons_history() -> None:
    past = PastCase(NOW - timedelta(days=20), VisitResult.NOT_LOCATED, attempted=True)
    known = _known(history={"person-1": [past]})
    verdict = decide_referral(_report(), ReferralKind.SELF, None, known, PROGRAM, NOW)
    assert isinstance(verdict, core.OpenCase) and verdict.tier is Tier.UNLOCATED
    assert verdict.due_at - verdict.opens_at == timedelta(hours=24)
    assert verdict.case_id == core.case_id_for_key("referral|example|ref-1")
    # a second referral of the same person in the same batch joins the case just opened
    again = decide_referral(_report(), ReferralKind.FRIEND, None, known, PROGRAM, NOW)
    assert again == core.JoinCase(verdict.case_id, REFERRAL_JOIN)
    nobody = decide_referral(_report(person=None), ReferralKind.SELF, None, known, PROGRAM, NOW)
    assert isinstance(nobody, core.OpenCase) and nobody.tier is Tier.NEW


def test_a_referral_older_than_the_programs_limit_is_history_only() -> None:
    old = _report(hours_ago=31 * 24)
    verdict = decide_referral(old, ReferralKind.SELF, None, _known(), PROGRAM, NOW)
    assert isinstance(verdict, core.TooOld)


def test_a_refused_referral_is_traced_to_its_program_for_the_coordinator() -> None:
    found = refused(referral(person={"first_name": "Dana"}))  # no way to reach her
    letter = Letter(encode(found), "overdose.rejected.v1", 0, 3)
    facts = letter_facts(letter, PROGRAMS, NOW)
    assert (facts.reason, facts.source, facts.program_id) == (
        "invalid_event",
        "referral",
        "example",
    )
    assert facts.origin_topic == "referral.v1"

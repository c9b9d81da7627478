"""The case engine's rules without a database: services/core/cases.py decides from
what it is given. The integration tests (test_case_engine.py, test_deaths_and_merges.py)
check the same rules through the store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from schemas.cases import Tier, VisitResult
from schemas.overdose_event import Patient
from services.cases.tiering import PastCase
from services.core import cases as core
from services.identity.matching import Decision, PersonFeatures, features_from_patient
from services.programs import Program

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
PROGRAM = Program(id="p1", name="P1")
ALEX = features_from_patient(Patient(first_name="Alex", last_name="Rivera", dob=date(1990, 1, 2)))
ALEXANDER = features_from_patient(
    Patient(first_name="Alexander", last_name="Rivera", dob=date(1990, 1, 2))
)
SAM = features_from_patient(Patient(first_name="Sam", last_name="Okafor", dob=date(1985, 5, 6)))


def report(
    key: str = "ems|a1|e1",
    *,
    source: str = "ems",
    at: datetime = NOW - timedelta(hours=2),
    person: str | None = "person-1",
    decision: Decision | None = Decision.NEW,
    candidate: str | None = None,
    probes: frozenset[str] = frozenset(),
    features: PersonFeatures = ALEX,
    fatal: bool = False,
) -> core.Report:
    return core.Report(key, source, at, fatal, person, decision, candidate, probes, features)


def known(
    recent: list[core.Recent] | None = None,
    open_by_person: dict[str, tuple[str, datetime]] | None = None,
    history: dict[str, list[PastCase]] | None = None,
    features: dict[str, PersonFeatures] | None = None,
) -> core.Known:
    return core.Known(
        core.RecentIndex(recent or []), open_by_person or {}, history or {}, features or {}
    )


def test_a_new_person_opens_a_case_in_the_12_to_72_hour_window_with_the_new_tier() -> None:
    r = report()
    verdict = core.decide(r, known(), PROGRAM, NOW)
    assert verdict == core.OpenCase(
        core.case_id_for_key(r.key), Tier.NEW, r.occurred_at + timedelta(hours=12),
        r.occurred_at + timedelta(hours=72),
    )  # fmt: skip


def test_the_case_id_is_the_same_for_a_replay_and_differs_between_events() -> None:
    assert core.case_id_for_key("ems|a1|e1") == core.case_id_for_key("ems|a1|e1")
    assert core.case_id_for_key("ems|a1|e1") != core.case_id_for_key("ems|a1|e2")


def test_the_tier_comes_from_the_latest_followed_up_case() -> None:
    history = {
        "person-1": [
            PastCase(
                NOW - timedelta(days=90), VisitResult.CONTACTED_DECLINED_FUTURE_INTEREST, True
            ),
            PastCase(NOW - timedelta(days=20), VisitResult.NOT_LOCATED, True),
        ]
    }
    verdict = core.decide(report(), known(history=history), PROGRAM, NOW)
    assert isinstance(verdict, core.OpenCase) and verdict.tier is Tier.UNLOCATED


def test_a_repeat_overdose_joins_the_open_case_and_moves_its_window_only_when_later() -> None:
    earlier = NOW - timedelta(hours=30)
    open_by_person = {"person-1": ("case-9", earlier)}
    later = core.decide(report(), known(open_by_person=open_by_person), PROGRAM, NOW)
    at = NOW - timedelta(hours=2)
    assert later == core.JoinCase(
        "case-9", "repeat_overdose", (at + timedelta(hours=12), at + timedelta(hours=72))
    )
    older = report(at=earlier - timedelta(hours=5))
    assert core.decide(older, known(open_by_person=open_by_person), PROGRAM, NOW) == (
        core.JoinCase("case-9", "repeat_overdose", None)
    )


def test_two_reports_of_one_person_in_one_batch_make_one_case() -> None:
    first, second = report("ems|a1|e1"), report("ems|a1|e2", at=NOW - timedelta(hours=1))
    verdicts = core.decide_all([first, second], known(), PROGRAM, NOW)
    assert isinstance(verdicts[0], core.OpenCase)
    assert isinstance(verdicts[1], core.JoinCase)
    assert verdicts[1].case_id == verdicts[0].case_id


def test_another_source_at_the_same_scene_within_the_margin_joins_as_the_same_incident() -> None:
    at = NOW - timedelta(hours=2)
    scene = {"tok-a", "tok-b"}
    recent = [core.Recent("case-1", None, "ems", at, scene)]
    police = report("police|pd|1", source="police", at=at + timedelta(minutes=40),
                    person=None, decision=None, probes=frozenset({"tok-b"}))  # fmt: skip
    assert core.decide(police, known(recent), PROGRAM, NOW) == core.JoinCase(
        "case-1", "same_incident"
    )


def test_the_same_incident_needs_another_source_the_margin_and_one_candidate_case() -> None:
    at = NOW - timedelta(hours=2)
    probes = frozenset({"tok-a"})
    same_source = [core.Recent("case-1", None, "police", at, {"tok-a"})]
    too_far = [core.Recent("case-1", None, "ems", at - timedelta(minutes=91), {"tok-a"})]
    two_cases = [
        core.Recent("case-1", None, "ems", at, {"tok-a"}),
        core.Recent("case-2", None, "ems", at, {"tok-a"}),
    ]
    police = report("police|pd|1", source="police", at=at, person=None, decision=None,
                    probes=probes)  # fmt: skip
    for recent in (same_source, too_far, two_cases):
        assert isinstance(core.decide(police, known(recent), PROGRAM, NOW), core.OpenCase)


def test_two_named_people_at_one_scene_join_only_when_they_could_be_one_person() -> None:
    at = NOW - timedelta(hours=2)
    recent = [core.Recent("case-1", "person-0", "ems", at, {"tok-a"})]
    probes = frozenset({"tok-a"})
    same = report("police|pd|1", source="police", at=at, features=ALEXANDER, probes=probes)
    other = report("police|pd|2", source="police", at=at, features=SAM, probes=probes)
    features = {"person-0": ALEX}
    assert core.decide(same, known(recent, features=features), PROGRAM, NOW) == core.JoinCase(
        "case-1", "same_incident"
    )
    assert isinstance(core.decide(other, known(recent, features=features), PROGRAM, NOW),
                      core.OpenCase)  # fmt: skip


def test_a_linked_fatal_report_is_a_death_and_opens_nothing() -> None:
    fatal = report(fatal=True, decision=Decision.LINK)
    assert core.decide(fatal, known(), PROGRAM, NOW) == core.Fatal(death=True)


def test_an_uncertain_fatal_report_is_a_possible_death_of_the_candidate() -> None:
    at = NOW - timedelta(hours=2)
    recent = [core.Recent("case-1", None, "police", at, {"tok-a"})]
    fatal = report(fatal=True, decision=Decision.REVIEW, candidate="person-7",
                   probes=frozenset({"tok-a"}))  # fmt: skip
    assert core.decide(fatal, known(recent), PROGRAM, NOW) == core.Fatal(
        death=False, candidates=("person-7",), same_incident_case="case-1"
    )


def test_a_report_older_than_the_program_allows_is_history_only() -> None:
    old = report(at=NOW - PROGRAM.max_event_age - timedelta(minutes=1))
    assert core.decide(old, known(), PROGRAM, NOW) == core.TooOld()
    edge = report(at=NOW - PROGRAM.max_event_age)
    assert isinstance(core.decide(edge, known(), PROGRAM, NOW), core.OpenCase)


def test_a_fatal_report_is_a_death_even_when_old() -> None:
    old = report(at=NOW - timedelta(days=400), fatal=True, decision=Decision.LINK)
    assert core.decide(old, known(), PROGRAM, NOW) == core.Fatal(death=True)

"""Case-engine scenarios on the real store (SQLite and PostgreSQL), clock injected."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from schemas.cases import Referral, Tier, VisitResult
from services.cases.opening import case_id_for
from services.cases.replanning import plan_program
from services.cases.reviews import keep_apart, link_review, open_reviews, unlink_case
from services.cases.timers import sweep_timers
from services.cases.visits import CaseClosed, CaseNotFound, ReferralMismatch, record_attempt
from services.cases.visits import record_outcome as close_case
from services.crypto.fields import FieldCipher
from services.store.repository import Store
from services.store.tables import audit_log, case_events, cases, events, timers
from tests.integration.engine_support import ALEX, T0, Scenario, overdose


@pytest.fixture
def scene(store: Store, cipher: FieldCipher) -> Scenario:
    return Scenario(store, cipher)


def close(scene: Scenario, case_id: str, outcome: VisitResult, attempted: bool = True) -> None:
    if attempted:
        record_attempt(
            scene.store, case_id, result=outcome, at=scene.now, team_id="day",
            referral=Referral.MOUD if outcome.is_contact and "accepted" in outcome else None,
            actor="tester", now=scene.now,
        )  # fmt: skip
    close_case(
        scene.store, case_id, outcome=outcome,
        referral=Referral.MOUD if "accepted" in outcome else None,
        actor="tester", now=scene.now, tier_rules=scene.programs.programs[0].tiers,
    )  # fmt: skip


def only_case(scene: Scenario) -> str:
    (item,) = scene.store.queue("example")
    return item.case_id


def kinds(store: Store, case_id: str) -> list[str]:
    with store.engine.connect() as conn:
        return [
            r.kind
            for r in conn.execute(
                select(case_events.c.kind)
                .where(case_events.c.case_id == case_id)
                .order_by(case_events.c.seq)
            )
        ]


# --- tiers ------------------------------------------------------------------------------


def test_never_contacted_is_new(scene: Scenario) -> None:
    scene.report(overdose(patient=ALEX))
    assert scene.store.queue("example")[0].tier is Tier.NEW


def test_not_located_last_time_makes_the_next_case_unlocated(scene: Scenario) -> None:
    scene.report(overdose(patient=ALEX))
    first = only_case(scene)
    close(scene, first, VisitResult.NOT_LOCATED)
    scene.advance(days=10)
    scene.report(overdose(at=scene.now, patient={**ALEX, "first_name": "ALEX"}))
    (item,) = scene.store.queue("example")
    assert item.case_id != first and item.tier is Tier.UNLOCATED
    assert item.person_id is not None


def test_declined_but_interested_makes_the_next_case_deferred(scene: Scenario) -> None:
    scene.report(overdose(patient=ALEX))
    close(scene, only_case(scene), VisitResult.CONTACTED_DECLINED_FUTURE_INTEREST)
    scene.advance(days=30)
    scene.report(overdose(at=scene.now, patient=ALEX))
    assert scene.store.queue("example")[0].tier is Tier.DEFERRED


def test_earlier_case_closed_without_any_attempt_keeps_new(scene: Scenario) -> None:
    scene.report(overdose(patient=ALEX))
    close(scene, only_case(scene), VisitResult.NOT_LOCATED, attempted=False)
    scene.advance(days=5)
    scene.report(overdose(at=scene.now, patient=ALEX))
    assert scene.store.queue("example")[0].tier is Tier.NEW


def test_queue_order_is_tier_then_due(scene: Scenario) -> None:
    bo = {"first_name": "Bo", "last_name": "Exampleton", "dob": "1985-05-05"}
    cy = {"first_name": "Cy", "last_name": "Fictional", "dob": "1979-09-09"}
    scene.report(overdose(patient=bo), overdose(patient=cy))
    by_person = {i.person_id: i.case_id for i in scene.store.queue("example")}
    first_bo, first_cy = (c for c in by_person.values())
    close(scene, first_bo, VisitResult.CONTACTED_DECLINED_FUTURE_INTEREST)
    close(scene, first_cy, VisitResult.NOT_LOCATED)
    scene.advance(days=20)
    scene.report(
        overdose(at=scene.now - timedelta(hours=5), patient=bo),  # deferred, due earliest
        overdose(at=scene.now - timedelta(hours=3), patient=cy),  # unlocated
        overdose(at=scene.now - timedelta(hours=1)),  # nobody identified: new, due latest
    )
    assert [i.tier for i in scene.store.queue("example")] == [
        Tier.NEW, Tier.UNLOCATED, Tier.DEFERRED,
    ]  # fmt: skip


# --- matching -----------------------------------------------------------------------------


def test_ems_and_police_report_of_one_overdose_make_one_case(scene: Scenario) -> None:
    result = scene.report(
        overdose(source="ems", patient=ALEX),
        overdose(source="police", at=T0 + timedelta(minutes=20),
                 patient={"first_name": "alex", "last_name": "TESTPERSON", "dob": "1990-01-02"}),
    )  # fmt: skip
    assert (result.opened, result.linked) == (1, 1)
    (item,) = scene.store.queue("example")
    assert sorted(e.source for e in item.events) == ["ems", "police"]
    assert "linked" in kinds(scene.store, item.case_id)


def test_police_report_naming_nobody_joins_by_scene(scene: Scenario) -> None:
    place = {"address": "1200 Hal Greer Blvd", "zip": "25701", "county_fips": "54011"}
    scene.report(overdose(source="ems", patient=ALEX, location=place))
    scene.report(
        overdose(source="police", at=T0 + timedelta(minutes=30),
                 location={**place, "address": "1200 HAL GREER BOULEVARD"})
    )  # fmt: skip
    (item,) = scene.store.queue("example")
    assert len(item.events) == 2


def test_two_people_at_one_scene_stay_two_cases(scene: Scenario) -> None:
    place = {"address": "55 Lake Rd", "zip": "25701", "county_fips": "54011"}
    other = {"first_name": "Dee", "last_name": "Samplewood", "dob": "2001-03-04"}
    scene.report(overdose(source="ems", patient=ALEX, location=place))
    scene.report(overdose(source="police", patient=other, location=place))
    assert len(scene.store.queue("example")) == 2


def test_jon_smyth_and_john_smith_go_to_review(scene: Scenario) -> None:
    scene.report(overdose(patient={"first_name": "John", "last_name": "Smith",
                                   "dob": "1990-02-01"}))  # fmt: skip
    close(scene, only_case(scene), VisitResult.NOT_LOCATED)
    scene.advance(days=3)
    scene.report(overdose(at=scene.now, patient={"first_name": "Jon", "last_name": "Smyth",
                                                 "dob": "1990-01-02"}))  # fmt: skip
    (item,) = scene.store.queue("example")
    assert item.tier is Tier.NEW, "an uncertain match never borrows another person's history"
    (review,) = open_reviews(scene.store, "example")
    assert review.case_id == item.case_id and review.candidate_person_id != item.person_id
    link_review(scene.store, review.id, actor="coordinator", now=scene.now,
                program=scene.programs.programs[0])  # fmt: skip
    (linked,) = scene.store.queue("example")
    assert linked.person_id == review.candidate_person_id
    assert linked.tier is Tier.UNLOCATED, "linking brings the history, and the tier follows"
    assert open_reviews(scene.store, "example") == []
    with pytest.raises(ValueError, match="already decided"):
        keep_apart(scene.store, review.id, actor="coordinator", now=scene.now)


def test_conflicting_dob_never_merges_silently(scene: Scenario) -> None:
    scene.report(overdose(patient=ALEX))
    scene.report(overdose(at=T0 + timedelta(days=1), patient={**ALEX, "dob": "1975-07-30"}))
    assert len(scene.store.queue("example")) == 2
    assert len(open_reviews(scene.store, "example")) == 1


def test_unlink_puts_an_event_back_as_its_own_case_and_is_audited(scene: Scenario) -> None:
    ems = overdose(source="ems", patient=ALEX)
    police = overdose(source="police", at=T0 + timedelta(minutes=5), patient=ALEX)
    scene.report(ems, police)
    new_case = unlink_case(
        scene.store, scene.programs.programs[0], "police", "PD-1", police.event.event_id,
        actor="coordinator", now=scene.now,
    )  # fmt: skip
    assert new_case == case_id_for(police.event)
    queue = scene.store.queue("example")
    assert sorted(len(i.events) for i in queue) == [1, 1]
    with scene.store.engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(audit_log.c.action))]
    assert "event_unlinked_from_case" in actions


def test_events_naming_nobody_still_open_cases(scene: Scenario) -> None:
    result = scene.report(overdose(), overdose(at=T0 + timedelta(hours=6)))
    assert result.opened == 2 and all(i.person_id is None for i in scene.store.queue("example"))


# --- planning -----------------------------------------------------------------------------


def test_every_case_gets_a_slot_in_its_window_or_is_at_risk(scene: Scenario) -> None:
    scene.report(*(overdose(at=T0 - timedelta(hours=h)) for h in range(0, 12, 2)))
    plan_program(scene.store, scene.programs.programs[0], scene.now)
    queue = scene.store.queue("example")
    per_shift = Counter(i.planned.shift_start for i in queue if i.planned)
    assert per_shift and max(per_shift.values()) <= 2, "capacity 2 per shift"
    for item in queue:
        if item.planned:
            assert item.window_opens_at <= item.planned.visit_from < item.planned.visit_until
            assert item.planned.visit_until <= item.window_due_at
        else:
            assert item.at_risk_reason in {"capacity_full", "no_shift_in_window"}
    assert plan_program(scene.store, scene.programs.programs[0], scene.now) == 0, "stable"


# --- visits -------------------------------------------------------------------------------


def test_attempts_and_outcomes_are_checked(scene: Scenario) -> None:
    scene.report(overdose(patient=ALEX))
    case_id = only_case(scene)
    with pytest.raises(CaseNotFound):
        record_attempt(scene.store, "nope", result=VisitResult.NOT_LOCATED, at=scene.now,
                       team_id=None, referral=None, actor="t", now=scene.now)  # fmt: skip
    with pytest.raises(ReferralMismatch, match="referral"):
        close_case(scene.store, case_id, outcome=VisitResult.CONTACTED_ACCEPTED_TREATMENT,
                   referral=None, actor="t", now=scene.now,
                   tier_rules=scene.programs.programs[0].tiers)  # fmt: skip
    scene.advance(hours=14)
    record_attempt(scene.store, case_id, result=VisitResult.NOT_LOCATED, at=scene.now,
                   team_id="day", referral=None, actor="t", now=scene.now)  # fmt: skip
    scene.advance(hours=2)
    record_attempt(scene.store, case_id, result=VisitResult.CONTACTED_ACCEPTED_TREATMENT,
                   at=scene.now, team_id="day", referral=Referral.MOUD, actor="t",
                   now=scene.now)  # fmt: skip
    with scene.store.engine.connect() as conn:
        row = conn.execute(select(cases).where(cases.c.id == case_id)).one()
    assert row.first_attempt_at == T0 + timedelta(hours=14)
    assert row.first_contact_at == T0 + timedelta(hours=16)
    close(scene, case_id, VisitResult.CONTACTED_ACCEPTED_TREATMENT, attempted=False)
    with pytest.raises(CaseClosed, match="closed"):
        close(scene, case_id, VisitResult.NOT_LOCATED)
    assert kinds(scene.store, case_id)[-2:] == ["outcome_recorded", "closed"]


# --- timers -------------------------------------------------------------------------------


def test_timers_fire_once_each_as_the_clock_moves(scene: Scenario) -> None:
    scene.report(overdose(patient=ALEX))
    case_id = only_case(scene)
    assert sweep_timers(scene.store, scene.now) == 0
    scene.advance(hours=12)
    assert sweep_timers(scene.store, scene.now) == 1
    assert sweep_timers(scene.store, scene.now) == 0
    scene.advance(hours=48)
    assert sweep_timers(scene.store, scene.now) == 1  # 12 h before due: at risk
    scene.advance(hours=12)
    assert sweep_timers(scene.store, scene.now) == 1  # due: missed
    assert kinds(scene.store, case_id)[1:] == ["window_opened", "at_risk", "missed"]
    (item,) = scene.store.queue("example")
    assert item.missed and item.status.value == "open", "missed cases stay visible"


def test_contact_before_the_deadline_retires_the_risk_timers(scene: Scenario) -> None:
    scene.report(overdose(patient=ALEX))
    case_id = only_case(scene)
    scene.advance(hours=13)
    record_attempt(scene.store, case_id, result=VisitResult.CONTACTED_DECLINED, at=scene.now,
                   team_id="day", referral=None, actor="t", now=scene.now)  # fmt: skip
    scene.advance(hours=80)
    assert sweep_timers(scene.store, scene.now) == 1  # only window_opened has an effect
    assert not scene.store.queue("example")[0].missed
    with scene.store.engine.connect() as conn:
        unfired = conn.execute(select(timers).where(timers.c.fired_at.is_(None))).all()
    assert unfired == []


def test_event_rows_keep_no_plaintext(scene: Scenario) -> None:
    scene.report(overdose(patient=ALEX))
    with scene.store.engine.connect() as conn:
        row = conn.execute(select(events.c.patient_sealed)).one()
    assert row.patient_sealed and "Alex" not in row.patient_sealed


def test_repeat_overdose_joins_the_open_case_and_moves_its_window(scene: Scenario) -> None:
    scene.report(overdose(patient=ALEX))
    first = only_case(scene)
    scene.advance(hours=30)
    result = scene.report(overdose(at=scene.now, patient=ALEX))
    assert (result.opened, result.linked) == (0, 1), "one case, one owner"
    (item,) = scene.store.queue("example")
    assert item.case_id == first and len(item.events) == 2
    assert item.window_due_at == scene.now + timedelta(hours=72)
    with scene.store.engine.connect() as conn:
        due = {
            r.kind: r.due_at for r in conn.execute(select(timers).where(timers.c.case_id == first))
        }
    assert due["window_missed"] == item.window_due_at, "timers follow the moved window"

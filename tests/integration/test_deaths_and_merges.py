"""A death stops everything, one overdose is one case, two open cases of one person become
one: case-engine scenarios on the real store (SQLite and PostgreSQL), clock injected."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from schemas.cases import CaseStatus, VisitResult
from schemas.sms import ConsentSource, TextState
from services.cases.deaths import NotFlagged, decide_possible_death
from services.cases.reviews import keep_apart, link_review, open_reviews
from services.cases.visits import record_attempt
from services.crypto.fields import FieldCipher
from services.sms import consent
from services.sms.texts import schedule_case_texts
from services.store.repository import Store
from services.store.tables import audit_log, case_events, cases, events, sms_consents, sms_texts
from tests.integration.engine_support import ALEX, T0, Scenario, overdose

SCENE = {"address": "12 Hill St", "zip": "25701", "county_fips": "54011"}
ZEBULON = {"first_name": "Zebulon", "last_name": "Quarrington", "dob": "1987-03-14"}
ZEB = {"first_name": "Zeb", "last_name": "Quarington", "dob": "1987-03-14"}


@pytest.fixture
def scene(store: Store, cipher: FieldCipher) -> Scenario:
    return Scenario(store, cipher)


def case_rows(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(cases).order_by(cases.c.opened_at, cases.c.id)).all())


def texts_of(store: Store, case_id: str) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(sms_texts).where(sms_texts.c.case_id == case_id)).all())


def actions(store: Store, case_id: str) -> list[str]:
    with store.engine.connect() as conn:
        return list(
            conn.execute(
                select(audit_log.c.action).where(audit_log.c.subject_id == case_id)
            ).scalars()
        )


def kinds(store: Store, case_id: str) -> list[str]:
    with store.engine.connect() as conn:
        return list(
            conn.execute(
                select(case_events.c.kind)
                .where(case_events.c.case_id == case_id)
                .order_by(case_events.c.seq)
            ).scalars()
        )


def schedule(scene: Scenario, case_id: str) -> int:
    return schedule_case_texts(scene.store, scene.cipher, scene.programs, case_id, scene.now)


def with_texts(scene: Scenario, **extra: Any) -> str:
    """A non-fatal EMS report of Alex (phone, SMS consent) and its queued texts."""
    scene.report(overdose(patient=ALEX, consent={"sms": True}, **extra))
    (row,) = [r for r in case_rows(scene.store) if r.status == "open"]
    assert schedule(scene, row.id) >= 1
    return str(row.id)


# --- a death ------------------------------------------------------------------------------


def test_a_fatal_report_of_a_known_person_closes_the_case_and_stops_every_text(
    scene: Scenario,
) -> None:
    case_id = with_texts(scene)
    scene.advance(hours=3)
    scene.report(overdose(source="police", at=scene.now, patient=ALEX, fatal=True))

    (row,) = case_rows(scene.store)
    assert (row.status, row.outcome) == (CaseStatus.CLOSED, VisitResult.DECEASED)
    states = {t.state for t in texts_of(scene.store, case_id)}
    assert states == {TextState.CANCELLED}, "no text left queued, sending or checking"
    assert "outcome_recorded" in kinds(scene.store, case_id)
    assert "case_closed_deceased" in actions(scene.store, case_id)
    with scene.store.engine.connect() as conn:
        fatal = conn.execute(select(events).where(events.c.fatal.is_(True))).one()
        assert fatal.person_id == row.person_id, "the fatal report stays linked to the person"
        deceased = conn.execute(
            select(sms_consents).where(sms_consents.c.source == ConsentSource.DECEASED.value)
        ).all()
    assert [(d.person_id, d.granted) for d in deceased] == [(row.person_id, False)]

    # A coordinator granting texts to that phone again changes nothing for that person.
    with scene.store.transaction() as conn:
        token = deceased[0].phone_token
        consent.record(
            conn, [consent.consent_row("example", token, True, ConsentSource.COORDINATOR, T0)]
        )
    assert schedule(scene, case_id) == 0


def test_an_uncertain_fatal_match_flags_the_case_and_a_review_link_confirms_it(
    scene: Scenario,
) -> None:
    case_id = with_texts(scene)
    scene.advance(hours=1)
    other_dob = {**ALEX, "dob": "1990-02-01", "phone": None}  # day/month swapped: review
    scene.report(overdose(source="police", at=scene.now, patient=other_dob, fatal=True))
    (row,) = case_rows(scene.store)
    assert row.status == "open" and row.possible_death_at is not None
    (item,) = scene.store.queue("example")
    assert item.possible_death
    assert {t.state for t in texts_of(scene.store, case_id)} == {TextState.QUEUED}
    (review,) = open_reviews(scene.store, "example")

    link_review(
        scene.store, review.id, actor="coordinator", now=scene.now,
        program=scene.programs.programs[0],
    )  # fmt: skip
    (row,) = case_rows(scene.store)
    assert (row.status, row.outcome, row.possible_death_at) == ("closed", "deceased", None)
    assert {t.state for t in texts_of(scene.store, case_id)} == {TextState.CANCELLED}


def test_keeping_a_fatal_review_apart_dismisses_the_possible_death(scene: Scenario) -> None:
    with_texts(scene)
    other_dob = {**ALEX, "dob": "1990-02-01", "phone": None}
    scene.report(overdose(source="police", patient=other_dob, fatal=True))
    (review,) = open_reviews(scene.store, "example")
    keep_apart(scene.store, review.id, actor="coordinator", now=scene.now)
    (row,) = case_rows(scene.store)
    assert row.status == "open" and row.possible_death_at is None
    assert "possible_death_dismissed" in actions(scene.store, row.id)


def test_a_fatal_report_at_the_same_scene_naming_nobody_flags_for_a_coordinator(
    scene: Scenario,
) -> None:
    scene.report(overdose(patient=ALEX, location=SCENE))
    scene.report(overdose(source="police", at=T0 + timedelta(minutes=5), location=SCENE,
                          fatal=True))  # fmt: skip
    (row,) = case_rows(scene.store)
    assert row.status == "open" and row.possible_death_at is not None
    margin = timedelta(minutes=90)
    with pytest.raises(NotFlagged):
        decide_possible_death(scene.store, "nope", confirm=True, margin=margin, actor="c",
                              now=scene.now)  # fmt: skip
    decide_possible_death(scene.store, row.id, confirm=True, margin=margin, actor="coord",
                          now=scene.now)  # fmt: skip
    (row,) = case_rows(scene.store)
    assert (row.status, row.outcome) == ("closed", "deceased")
    assert "case_closed_deceased" in actions(scene.store, row.id)


def test_dismissing_a_possible_death_keeps_the_case(scene: Scenario) -> None:
    scene.report(overdose(patient=ALEX, location=SCENE))
    scene.report(overdose(source="police", location=SCENE, fatal=True))
    (row,) = case_rows(scene.store)
    decide_possible_death(scene.store, row.id, confirm=False, margin=timedelta(0),
                          actor="coord", now=scene.now)  # fmt: skip
    (after,) = case_rows(scene.store)
    assert after.status == "open" and after.possible_death_at is None
    assert after.version > row.version


def test_a_late_report_of_an_overdose_before_a_recorded_death_is_closed_at_once(
    scene: Scenario,
) -> None:
    scene.report(overdose(source="police", at=T0 + timedelta(hours=1), patient=ALEX, fatal=True))
    assert case_rows(scene.store) == []
    scene.advance(hours=2)
    scene.report(overdose(at=T0, patient=ALEX, consent={"sms": True}))  # the EMS report, late
    (row,) = case_rows(scene.store)
    assert (row.status, row.outcome) == ("closed", "deceased")
    assert schedule(scene, row.id) == 0


# --- one overdose, one case -----------------------------------------------------------------


def test_an_ems_and_a_police_report_of_one_overdose_give_one_case(scene: Scenario) -> None:
    scene.report(overdose(patient=ZEBULON, location=SCENE))
    scene.report(
        overdose(source="police", at=T0 + timedelta(minutes=4), patient=ZEB, location=SCENE)
    )
    open_ = [r for r in case_rows(scene.store) if r.status == "open"]
    assert len(open_) == 1, "one overdose, one case"
    (review,) = open_reviews(scene.store, "example")
    assert review.case_id == open_[0].id, "the person link itself still goes to review"


@pytest.mark.parametrize(
    ("minutes", "where"),
    [(4, {"address": "9 River Rd", "zip": "25702", "county_fips": "54011"}), (300, SCENE)],
    ids=["another scene", "hours later"],
)
def test_the_same_names_at_another_scene_or_hours_later_stay_two_cases(
    scene: Scenario, minutes: int, where: dict[str, str]
) -> None:
    scene.report(overdose(patient=ZEBULON, location=SCENE))
    scene.report(
        overdose(source="police", at=T0 + timedelta(minutes=minutes), patient=ZEB, location=where)
    )
    assert len([r for r in case_rows(scene.store) if r.status == "open"]) == 2


# --- a review link of two open cases --------------------------------------------------------


def test_linking_a_review_of_two_open_cases_leaves_one(scene: Scenario) -> None:
    scene.report(overdose(patient=ALEX, consent={"sms": True}))
    first = case_rows(scene.store)[0].id
    record_attempt(scene.store, first, result=VisitResult.NOT_LOCATED, at=scene.now,
                   team_id="day", referral=None, actor="peer", now=scene.now)  # fmt: skip
    scene.advance(hours=30)
    variant = {**ALEX, "first_name": "Alexx", "phone": None}  # similar name, same DOB: review
    scene.report(overdose(source="police", at=scene.now, patient=variant, location=SCENE))
    second = next(r.id for r in case_rows(scene.store) if r.id != first)
    record_attempt(scene.store, second, result=VisitResult.NOT_LOCATED, at=scene.now,
                   team_id="day", referral=None, actor="peer", now=scene.now)  # fmt: skip
    for case_id in (first, second):
        schedule(scene, case_id)
    (review,) = open_reviews(scene.store, "example")

    link_review(
        scene.store, review.id, actor="coordinator", now=scene.now,
        program=scene.programs.programs[0],
    )  # fmt: skip
    rows = {r.id: r for r in case_rows(scene.store)}
    assert rows[first].status == "open"
    assert (rows[second].status, rows[second].outcome) == ("closed", "merged_into")
    assert rows[second].merged_into == first
    assert rows[first].window_due_at == rows[second].window_due_at, "the later window"
    with scene.store.engine.connect() as conn:
        moved = conn.execute(select(events.c.case_id)).scalars().all()
    assert set(moved) == {first}, "every report now in the surviving case"
    detail = scene.store.queue("example")
    assert [i.case_id for i in detail] == [first] and detail[0].attempts == 2
    live = [t for t in texts_of(scene.store, first) if t.state == TextState.QUEUED]
    slots = [t.idempotency_key.split(":", 1)[1] for t in live]
    assert len(slots) == len(set(slots)), "every text kept once"
    assert "merged" in kinds(scene.store, first) and "cases_merged" in actions(scene.store, first)
    assert schedule(scene, first) == 0, "the merged case's texts count as the survivor's"


# --- through the API -------------------------------------------------------------------------


def test_a_coordinator_decides_a_possible_death_through_the_api(scene: Scenario) -> None:
    from fastapi.testclient import TestClient

    from schemas.accounts import Role
    from services.api.app import create_app
    from services.bootstrap import bootstrap
    from services.settings import Settings
    from tests.support_accounts import bearer

    scene.report(overdose(patient=ALEX, location=SCENE))
    scene.report(overdose(source="police", location=SCENE, fatal=True))
    (row,) = case_rows(scene.store)
    coordinator = bearer(scene.store, "coord", Role.COORDINATOR)
    peer = bearer(scene.store, "peer", Role.OUTREACH)
    settings = Settings()
    ctx = bootstrap(settings, store=scene.store, cipher=scene.cipher, programs=scene.programs,
                    clock=lambda: scene.now)  # fmt: skip
    path = f"/api/v1/cases/{row.id}/possible-death"
    with TestClient(create_app(settings, ctx=ctx)) as client:
        detail = client.get(f"/api/v1/cases/{row.id}", headers=coordinator).json()
        assert detail["possible_death"] is True
        queue = client.get("/api/v1/programs/example/queue", headers=peer).json()
        assert queue["items"][0]["possible_death"] is True
        assert client.post(path, json={"decision": "confirm"}, headers=peer).status_code == 403
        assert client.post(path, json={"decision": "maybe"}, headers=coordinator).status_code == 422
        done = client.post(path, json={"decision": "confirm"}, headers=coordinator)
        assert done.status_code == 200, done.text
        again = client.post(path, json={"decision": "dismiss"}, headers=coordinator)
        assert again.status_code == 409 and "not flagged" in again.json()["detail"]
    (after,) = case_rows(scene.store)
    assert (after.status, after.outcome) == ("closed", "deceased")

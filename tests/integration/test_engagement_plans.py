"""An engaged client over weeks, on a real store (SQLite and PostgreSQL), the clock moved
by the test: the case outlives its 72 h window and its timers, is planned again for its
next check-in (the check-in is its window), moves its check-in by its cadence after a
contact, keeps its tier when the person's history changes, gets the texts its client
consents to (STOP ends them, not the case) and closes only by an outcome."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from schemas.accounts import Role
from schemas.cases import CaseEventKind, Tier
from services.cases.engagement_rules import EngagedSettings
from services.cases.replanning import plan_program
from services.cases.timers import sweep_timers
from services.cases.visits import retier_person
from services.sms.inbound import handle_reply
from services.sms.texts import schedule_case_texts
from services.store.repository import Store
from services.store.tables import audit_log, case_events, sms_texts, timers
from tests.integration.engagement_support import (
    CHECKIN_AT,
    CONTACT_AT,
    OVERDOSE_AT,
    PROGRAM,
    PROGRAMS,
    Clock,
    api,
    case_row,
    contact,
    programs_with,
    seed,
)
from tests.integration.test_case_store import CIPHER
from tests.integration.test_queue_api import PATIENT
from tests.support_accounts import bearer

DUE = timedelta(hours=72)


def test_an_engaged_case_outlives_its_window_and_is_planned_for_its_next_check_in(
    store: Store,
) -> None:
    engaged, untouched = seed(store, "e1"), seed(store, "e2", patient=None)
    contact(store, engaged)
    clock = Clock(CONTACT_AT)
    with api(store, clock) as client:
        answer = client.put(
            f"/api/v1/cases/{engaged}/engagement",
            json={"next_checkin_at": CHECKIN_AT.isoformat()},
            headers=bearer(store, "coord", Role.COORDINATOR),
        )
    assert answer.status_code == 200, answer.text
    row = case_row(store, engaged)
    assert (row.tier, row.tier_rank, row.next_checkin_at) == ("engaged", 3, CHECKIN_AT)
    assert (row.window_opens_at, row.window_due_at) == (CHECKIN_AT, CHECKIN_AT + DUE)

    past_window = OVERDOSE_AT + timedelta(hours=80)  # the overdose's 72 h window is over
    assert sweep_timers(store, past_window) >= 1
    with store.engine.connect() as conn:
        fired = conn.execute(
            select(timers.c.kind).where(timers.c.case_id == engaged, timers.c.fired_at.is_not(None))
        ).scalars()
        assert sorted(fired) == ["window_at_risk", "window_missed", "window_opened"]
    assert case_row(store, untouched).missed_at is not None  # the sweep marks a case missed
    row = case_row(store, engaged)
    assert (row.status, row.missed_at, row.tier) == ("open", None, "engaged")

    assert plan_program(store, PROGRAM, past_window) >= 1
    row = case_row(store, engaged)
    assert row.planned_team_id is not None and row.at_risk_reason is None
    assert CHECKIN_AT <= row.planned_visit_from < row.planned_visit_until <= CHECKIN_AT + DUE
    assert (row.planned_visit_from - CHECKIN_AT) < timedelta(days=1)  # planned for that date

    after_checkin = CHECKIN_AT + timedelta(hours=80)  # its check-in's window is over too
    sweep_timers(store, after_checkin)
    plan_program(store, PROGRAM, after_checkin)
    row = case_row(store, engaged)
    assert (row.status, row.missed_at, row.outcome, row.tier) == ("open", None, None, "engaged")
    assert row.at_risk_reason == "no_shift_in_window"  # shown as at risk, never closed


def test_a_contact_moves_the_check_in_by_the_cadence_in_the_programs_window(
    store: Store,
) -> None:
    programs = programs_with(engaged=EngagedSettings(checkin_due_hours=48))
    case_id = seed(store)
    contact(store, case_id)
    coord = bearer(store, "coord", Role.COORDINATOR)
    clock = Clock(CONTACT_AT)
    with api(store, clock, programs) as client:
        set_ = client.put(
            f"/api/v1/cases/{case_id}/engagement", json={"every_days": 14}, headers=coord
        )
        assert set_.status_code == 200, set_.text
        first = CONTACT_AT + timedelta(days=14)
        assert set_.json()["next_checkin_at"] == first.isoformat().replace("+00:00", "Z")
        row = case_row(store, case_id)
        assert (row.window_opens_at, row.window_due_at) == (first, first + timedelta(hours=48))

        clock.now = first + timedelta(hours=3)  # the check-in: the team reaches the client
        done = client.post(
            f"/api/v1/cases/{case_id}/attempts",
            json={"result": "contacted_declined_future_interest", "method": "phone"},
            headers=coord,
        )
        assert done.status_code == 201, done.text
        moved = clock.now + timedelta(days=14)
        row = case_row(store, case_id)
        assert (row.next_checkin_at, row.window_opens_at) == (moved, moved)
        assert row.window_due_at == moved + timedelta(hours=48)
        plan_program(store, programs.programs[0], clock.now)
        row = case_row(store, case_id)
        assert moved <= row.planned_visit_from < row.planned_visit_until <= row.window_due_at

        clock.now += timedelta(hours=1)  # a try that does not reach the client moves nothing
        client.post(
            f"/api/v1/cases/{case_id}/attempts", json={"result": "not_located"}, headers=coord
        )
        assert case_row(store, case_id).next_checkin_at == moved
    with store.engine.connect() as conn:
        audited = conn.execute(
            select(audit_log.c.detail).where(audit_log.c.action == "checkin_moved")
        ).scalars().all()  # fmt: skip
        kinds = conn.execute(
            select(case_events.c.kind).where(case_events.c.case_id == case_id)
        ).scalars().all()  # fmt: skip
    assert len(audited) == 1 and '"every_days": 14' in audited[0]
    assert kinds.count(CaseEventKind.ENGAGED.value) == 2  # set, then moved by the contact


def test_an_engaged_case_keeps_its_tier_when_the_history_is_read_again(store: Store) -> None:
    case_id = seed(store)
    contact(store, case_id)
    with api(store, Clock(CONTACT_AT)) as client:
        client.put(
            f"/api/v1/cases/{case_id}/engagement",
            json={"next_checkin_at": CHECKIN_AT.isoformat()},
            headers=bearer(store, "coord", Role.COORDINATOR),
        )
    person_id = case_row(store, case_id).person_id
    with store.transaction() as conn:  # what an outcome or a review link of the person does
        retier_person(conn, person_id, PROGRAM.tiers, CONTACT_AT + timedelta(hours=1))
    assert case_row(store, case_id).tier == Tier.ENGAGED.value


def test_texts_follow_the_clients_consent_and_stop_ends_texts_not_the_case(
    store: Store,
) -> None:
    case_id = seed(store, sms=True)
    contact(store, case_id)
    early = CHECKIN_AT - timedelta(hours=4)  # 06:00 in New York: the first shift is at 08:00
    clock = Clock(CONTACT_AT)
    coord = bearer(store, "coord", Role.COORDINATOR)
    with api(store, clock) as client:
        answer = client.put(
            f"/api/v1/cases/{case_id}/engagement",
            json={"next_checkin_at": early.isoformat(), "every_days": 30},
            headers=coord,
        )
        assert answer.status_code == 200, answer.text
        plan_program(store, PROGRAM, CONTACT_AT)
        assert case_row(store, case_id).planned_visit_from > early
        assert schedule_case_texts(store, CIPHER, PROGRAMS, case_id, CONTACT_AT) >= 1
        reminder = f"{case_id}:visit_reminder:2026-12-03"
        with store.engine.connect() as conn:
            found = conn.execute(select(sms_texts.c.idempotency_key, sms_texts.c.state))
            texts = {key: state for key, state in found}
        assert texts[reminder] == "queued"  # a reminder on the day of the check-in

        handle_reply(store, CIPHER, "SM" + "5" * 32, PATIENT["phone"], "STOP", CONTACT_AT)
        with store.engine.connect() as conn:
            states = set(conn.execute(select(sms_texts.c.state)).scalars())
        assert states == {"cancelled"}
        assert schedule_case_texts(store, CIPHER, PROGRAMS, case_id, CONTACT_AT) == 0
        row = case_row(store, case_id)
        assert (row.status, row.tier) == ("open", "engaged") and row.engaged_at is not None

        closed = client.post(
            f"/api/v1/cases/{case_id}/outcome", json={"outcome": "opted_out"}, headers=coord
        )
        assert closed.status_code == 200, closed.text
        shown = client.get(f"/api/v1/cases/{case_id}", headers=coord).json()
    assert case_row(store, case_id).status == "closed"
    assert (shown["engaged"], shown["next_checkin_at"]) == (False, None)

"""Referrals through the case engine on the real store (SQLite and PostgreSQL), clock
injected: the case of a referral (its kind, the window of its kind, what is sealed), the
join with the person's open case, the tier from the person's history, a referral that is
never an overdose, and whose own "yes" to texts counts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from schemas.cases import CaseKind, ReferralKind, Tier, VisitResult
from schemas.intake import IntakeRecord
from services.crypto.fields import FieldCipher
from services.programs import parse_programs
from services.sms.consent import e164, phone_token
from services.store.repository import Store
from services.store.tables import case_events, cases, events, sms_consents
from tests.integration.engine_support import PROGRAM_TOML, Scenario, overdose
from tests.integration.referral_support import MOTHER, ROWAN, referral
from tests.integration.test_case_engine import close, only_case

COURT_FIRST = PROGRAM_TOML + (
    "\n[program.referrals]\ncourt = { opens_after_hours = 2, due_after_hours = 10 }\n"
)


@pytest.fixture
def scene(store: Store, cipher: FieldCipher) -> Scenario:
    return Scenario(store, cipher)


def _case(store: Store, case_id: str) -> dict[str, object]:
    with store.engine.connect() as conn:
        return dict(conn.execute(select(cases).where(cases.c.id == case_id)).one()._mapping)


def _events_of(store: Store, case_id: str) -> list[tuple[str, str]]:
    with store.engine.connect() as conn:
        return [
            (r.kind, r.payload)
            for r in conn.execute(
                select(case_events.c.kind, case_events.c.payload)
                .where(case_events.c.case_id == case_id)
                .order_by(case_events.c.seq)
            )
        ]


def test_a_referral_opens_a_case_of_its_kind_in_its_kinds_window(scene: Scenario) -> None:
    scene.programs = parse_programs(COURT_FIRST)
    people = [{"first_name": name, "phone": f"+1304555012{i}"}
              for i, name in enumerate(("Ash", "Bex", "Cal"))]  # fmt: skip
    made = [
        referral(scene.programs, scene.now, kind=kind, person=person)
        for kind, person in zip(("walk_in", "family", "court"), people, strict=True)
    ]
    assert scene.report(*made).opened == 3
    windows = {}
    for record in made:
        assert record.referral is not None
        with scene.store.engine.connect() as conn:
            row = conn.execute(
                select(events).where(events.c.event_id == record.event.event_id)
            ).one()
        assert (row.source, row.fatal, row.handling) == ("referral", False, "case_opened")
        assert row.referral_sealed.startswith("v1.") and row.clinical_sealed is None
        case = _case(scene.store, row.case_id)
        assert (case["kind"], case["referral_kind"]) == ("referral", record.referral.kind.value)
        at = record.event.occurred_at
        windows[record.referral.kind] = (case["window_opens_at"] - at, case["window_due_at"] - at)
        ((kind, payload),) = _events_of(scene.store, row.case_id)
        assert kind == "opened" and json.loads(payload)["detail"] == {
            "case_kind": "referral", "referral_kind": record.referral.kind.value,
        }  # fmt: skip
    hours = timedelta(hours=1)
    assert windows == {
        ReferralKind.WALK_IN: (0 * hours, 4 * hours),  # the defaults
        ReferralKind.FAMILY: (0 * hours, 24 * hours),
        ReferralKind.COURT: (2 * hours, 10 * hours),  # the program's own
    }
    urgent = referral(scene.programs, scene.now, kind="court", urgency="now",
                      person={"first_name": "Dee", "phone": "+13045550129"})  # fmt: skip
    scene.report(urgent)
    case = _case(scene.store, _case_id(scene.store, urgent))
    at = urgent.event.occurred_at
    assert (case["window_opens_at"], case["window_due_at"]) == (at, at + 4 * hours)


def _case_id(store: Store, record: IntakeRecord) -> str:
    event = record.event
    with store.engine.connect() as conn:
        return str(
            conn.execute(
                select(events.c.case_id).where(
                    events.c.source == "referral", events.c.event_id == event.event_id
                )
            ).scalar_one()
        )


def test_a_referral_of_a_person_with_an_open_case_joins_it(scene: Scenario) -> None:
    scene.report(overdose(at=scene.now - timedelta(hours=6), patient=ROWAN))
    case_id = only_case(scene)
    before = _case(scene.store, case_id)
    family = referral(scene.programs, scene.now, kind="family", referrer=MOTHER, urgency="now",
                      person={**ROWAN, "first_name": "ROWAN"})  # fmt: skip
    done = scene.report(family)
    assert (done.opened, done.linked) == (0, 1)
    after = _case(scene.store, case_id)
    assert only_case(scene) == case_id and _case_id(scene.store, family) == case_id
    assert after["kind"] == "overdose" and after["referral_kind"] is None  # opened by the overdose
    assert (after["window_opens_at"], after["window_due_at"]) == (
        before["window_opens_at"], before["window_due_at"],
    )  # fmt: skip
    kind, payload = _events_of(scene.store, case_id)[-1]
    assert kind == "linked"
    assert json.loads(payload)["detail"] == {
        "reason": "referral", "event_id": family.event.event_id,
        "case_kind": "referral", "referral_kind": "family",
    }  # fmt: skip


def test_the_tier_follows_the_persons_history_and_a_referral_is_no_overdose(
    scene: Scenario,
) -> None:
    scene.report(overdose(at=scene.now - timedelta(hours=20), patient=ROWAN))
    first = only_case(scene)
    close(scene, first, VisitResult.NOT_LOCATED)
    person = _case(scene.store, first)["person_id"]
    scene.advance(days=12)
    own = referral(scene.programs, scene.now, kind="self")
    scene.report(own)
    (item,) = scene.store.queue("example")
    assert item.case_id != first and item.person_id == person
    assert (item.tier, item.kind, item.referral_kind) == (
        Tier.UNLOCATED, CaseKind.REFERRAL, ReferralKind.SELF,
    )  # fmt: skip
    # an overdose an hour later is the person's repeat overdose: it joins and moves the
    # window to the overdose's; the referral itself never was one
    later = scene.now + timedelta(hours=1)
    scene.advance(hours=1)
    done = scene.report(overdose(at=later, patient=ROWAN))
    assert done.linked == 1 and only_case(scene) == item.case_id
    kind, payload = _events_of(scene.store, item.case_id)[-1]
    assert kind == "linked" and json.loads(payload)["detail"]["reason"] == "repeat_overdose"
    moved = _case(scene.store, item.case_id)
    assert moved["window_due_at"] == later + timedelta(hours=72)
    with scene.store.engine.connect() as conn:
        fatal = conn.execute(select(events.c.fatal).where(events.c.source == "referral")).all()
    assert fatal == [(False,)]


def _consents(store: Store, cipher: FieldCipher, phone: str) -> list[bool]:
    token = phone_token(cipher, e164(phone) or "")
    with store.engine.connect() as conn:
        return [
            r.granted
            for r in conn.execute(
                select(sms_consents.c.granted).where(sms_consents.c.phone_token == token)
            )
        ]


def test_only_the_persons_own_yes_to_texts_is_kept(scene: Scenario) -> None:
    yes = {"sms": True, "visit": True}
    people = [{"first_name": n, "phone": f"+1304555014{i}"} for i, n in enumerate("ABC")]
    scene.report(
        referral(scene.programs, scene.now, kind="self", person=people[0], consent=yes),
        referral(scene.programs, scene.now, kind="family", person=people[1], consent=yes),
        referral(scene.programs, scene.now, kind="friend", person=people[2],
                 consent={"sms": False}),
    )  # fmt: skip
    assert _consents(scene.store, scene.cipher, people[0]["phone"]) == [True]
    assert _consents(scene.store, scene.cipher, people[1]["phone"]) == []  # not theirs to give
    assert _consents(scene.store, scene.cipher, people[2]["phone"]) == [False]  # a no is kept


def test_a_repeat_of_the_same_referral_changes_nothing(scene: Scenario) -> None:
    made = referral(scene.programs, scene.now, kind="walk_in")
    assert scene.report(made).opened == 1
    again = scene.report(made)
    assert (again.opened, again.linked, again.duplicates) == (0, 0, 1)
    assert len(scene.store.queue("example")) == 1

"""Text check-ins end to end on the real store, with an injected clock: which texts a
case gets, quiet hours, consent, STOP/START/HELP, replies. Sent through the local
outbox sender here; tests/integration/test_sms_twilio.py sends through twilio-python."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from schemas.sms import TextState
from services.crypto.fields import FieldCipher
from services.sms import consent
from services.sms.dispatch import Dispatcher
from services.sms.inbound import handle_reply
from services.sms.keywords import KeywordFamily
from services.sms.outbox_sender import LocalOutboxSender, read_outbox
from services.sms.templates import forbidden_words_in
from services.sms.texts import schedule_case_texts
from services.store.repository import Store
from services.store.tables import sms_consents, sms_replies, sms_texts
from tests.integration.engine_support import ALEX, T0, Scenario, overdose

HOME = {"zip": "25701", "city": "Huntington", "state": "WV"}
PHONE = "+13045550142"


class Texting:
    """A scenario plus the SMS side: queue a case's texts, run the sender at `now`."""

    def __init__(self, store: Store, cipher: FieldCipher, outbox: Path) -> None:
        self.s = Scenario(store, cipher)
        self.store, self.cipher = store, cipher
        self.sender = LocalOutboxSender(
            outbox, lambda to: consent.phone_token(cipher, to), self.clock
        )

    def clock(self) -> datetime:
        return self.s.now

    def open_case(self, **patient: Any) -> str:
        record = overdose(
            patient={**ALEX, "address": HOME, **patient}, consent={"sms": True, "visit": True}
        )
        self.s.report(record)
        return self.case_ids()[-1]

    def case_ids(self) -> list[str]:
        return [item.case_id for item in self.store.queue("example")]

    def schedule(self, case_id: str) -> int:
        return schedule_case_texts(self.store, self.cipher, self.s.programs, case_id, self.s.now)

    def dispatch(self) -> Dispatcher:
        dispatcher = Dispatcher(
            self.store, self.cipher, self.s.programs, self.sender, self.clock, rate_per_s=1000
        )
        asyncio.run(dispatcher.run(until_idle=True))
        return dispatcher

    def texts(self) -> list[Any]:
        with self.store.engine.connect() as conn:
            return list(conn.execute(select(sms_texts).order_by(sms_texts.c.due_at)).all())

    def sent_bodies(self) -> list[str]:
        return [line["body"] for line in read_outbox(self.sender.path)]


def texting(store: Store, cipher: FieldCipher, tmp_path: Path) -> Texting:
    return Texting(store, cipher, tmp_path / "outbox.jsonl")


def test_a_case_gets_its_check_in_and_follow_ups_with_generic_words(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    t = texting(store, cipher, tmp_path)
    case_id = t.open_case()
    assert t.schedule(case_id) == 4  # check-in, day 3, day 7, day 30 (no visit planned)
    assert t.schedule(case_id) == 0, "a redelivered case event queues nothing twice"
    kinds = [r.kind for r in t.texts()]
    assert kinds == ["check_in", "follow_up_day_3", "follow_up_day_7", "follow_up_day_30"]
    for row in t.texts():
        assert row.state == TextState.QUEUED
        assert not forbidden_words_in(row.body, ["Alex", "Testperson"]), row.body
        assert PHONE not in row.to_sealed and "0142" not in row.to_sealed


def test_quiet_hours_defer_the_check_in_to_the_next_morning_never_drop_it(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    t = texting(store, cipher, tmp_path)
    case_id = t.open_case()  # Monday 09:00 New York: the window opens at 21:00, in quiet hours
    t.schedule(case_id)
    check_in = t.texts()[0]
    assert check_in.due_at == T0 + timedelta(hours=12)
    assert check_in.send_after == datetime(2026, 11, 17, 13, 0, tzinfo=UTC)  # Tue 08:00 EST
    t.s.now = datetime(2026, 11, 17, 2, 30, tzinfo=UTC)  # Mon 21:30 local
    t.dispatch()
    assert t.sent_bodies() == []
    t.s.now = datetime(2026, 11, 17, 12, 59, tzinfo=UTC)  # 07:59 local
    t.dispatch()
    assert t.sent_bodies() == []
    t.s.now = datetime(2026, 11, 17, 13, 0, tzinfo=UTC)  # 08:00 local
    t.dispatch()
    assert len(t.sent_bodies()) == 1
    assert t.texts()[0].state == TextState.DELIVERED or t.texts()[0].state == TextState.SENT


def test_a_text_that_comes_due_in_quiet_hours_is_deferred_at_send_time(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    t = texting(store, cipher, tmp_path)
    case_id = t.open_case()
    t.schedule(case_id)
    # Day 3 falls on Thursday 09:00 local: permitted. Pretend the sender was down until 22:10.
    t.s.now = datetime(2026, 11, 17, 13, 0, tzinfo=UTC)
    t.dispatch()  # the check-in
    t.s.now = datetime(2026, 11, 20, 3, 10, tzinfo=UTC)  # Thu 22:10 local, day 3 overdue
    t.dispatch()
    day3 = next(r for r in t.texts() if r.kind == "follow_up_day_3")
    assert day3.state == TextState.QUEUED
    assert day3.send_after == datetime(2026, 11, 20, 13, 0, tzinfo=UTC)  # Fri 08:00 local
    assert len(t.sent_bodies()) == 1


def test_no_consent_no_text(store: Store, cipher: FieldCipher, tmp_path: Path) -> None:
    t = texting(store, cipher, tmp_path)
    t.s.report(overdose(patient={**ALEX, "address": HOME}, consent={"sms": False}))
    case_id = t.case_ids()[-1]
    assert t.schedule(case_id) == 0
    t.s.now = T0 + timedelta(days=40)
    t.dispatch()
    assert t.sent_bodies() == []


def test_stop_cancels_everything_at_once_and_start_brings_it_back(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    t = texting(store, cipher, tmp_path)
    case_id = t.open_case()
    t.schedule(case_id)
    t.s.now = datetime(2026, 11, 17, 13, 0, tzinfo=UTC)
    t.dispatch()
    assert len(t.sent_bodies()) == 1
    assert handle_reply(store, cipher, "SM" + "1" * 32, "(304) 555-0142", " stop ", t.s.now) is (
        KeywordFamily.OPT_OUT
    )
    assert handle_reply(store, cipher, "SM" + "1" * 32, PHONE, "stop", t.s.now) is False
    states = {r.kind: r.state for r in t.texts()}
    assert states["follow_up_day_3"] == TextState.CANCELLED
    t.s.now = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)  # day 3, daytime
    t.dispatch()
    assert len(t.sent_bodies()) == 1, "nothing after STOP"
    assert t.schedule(case_id) == 0, "no consent: nothing queued again"

    assert handle_reply(store, cipher, "SM" + "2" * 32, PHONE, "START", t.s.now) is (
        KeywordFamily.OPT_IN
    )
    t.dispatch()
    assert len(t.sent_bodies()) == 2, "re-subscribed: the day-3 text goes out"
    with store.engine.connect() as conn:
        sources = [r.source for r in conn.execute(select(sms_consents).order_by(sms_consents.c.id))]
    assert sources == ["event", "inbound_stop", "inbound_start"]


def test_help_is_recorded_and_a_reply_flags_the_case_for_a_call_back(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    t = texting(store, cipher, tmp_path)
    case_id = t.open_case()
    t.schedule(case_id)
    t.s.now = datetime(2026, 11, 17, 13, 0, tzinfo=UTC)
    t.dispatch()
    assert (
        handle_reply(store, cipher, "SM" + "3" * 32, PHONE, "Help", t.s.now) is KeywordFamily.HELP
    )
    assert not t.store.queue("example")[0].callback_requested
    reply = "yes please call me after 5, this is Alex"
    assert handle_reply(store, cipher, "SM" + "4" * 32, PHONE, reply, t.s.now) is None
    assert t.store.queue("example")[0].callback_requested
    with store.engine.connect() as conn:
        rows = conn.execute(select(sms_replies).order_by(sms_replies.c.id)).all()
    assert [r.keyword for r in rows] == ["help", None]
    assert rows[1].case_id == case_id
    assert "Alex" not in (rows[1].body_sealed or "") and rows[1].body_sealed


def test_a_closing_outcome_stops_future_texts(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    from schemas.cases import VisitResult
    from services.cases.visits import record_outcome

    t = texting(store, cipher, tmp_path)
    case_id = t.open_case()
    t.schedule(case_id)
    t.s.now = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)
    tiers = t.s.programs.programs[0].tiers
    record_outcome(
        t.store,
        case_id,
        outcome=VisitResult.DECEASED,
        referral=None,
        actor="test",
        now=t.s.now,
        tier_rules=tiers,
    )
    t.schedule(case_id)
    assert {r.state for r in t.texts()} == {TextState.CANCELLED}
    t.s.now = T0 + timedelta(days=40)
    t.dispatch()
    assert t.sent_bodies() == []

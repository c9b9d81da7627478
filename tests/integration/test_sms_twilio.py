"""Sending through twilio-python's own async HTTP client to a local server that answers
like Twilio's Messages API: the answers, the errors, the pace, and no duplicate after a
crash. Real store (SQLite, PostgreSQL), injected clock."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from schemas.sms import TextState
from services.crypto.fields import FieldCipher
from services.sms.dispatch import CHECK_AFTER, Dispatcher, Pacer
from services.sms.sender_types import SenderUnauthorized, SendRefused, SendRetryable
from services.sms.twilio_sender import TwilioSender
from services.store.repository import Store
from services.store.tables import sms_consents
from tests import wall_clock
from tests.integration.test_sms_checkins import PHONE, Texting, texting
from tests.support_twilio import FakeTwilio

ACCOUNT, TOKEN = "AC" + "a" * 32, "test-auth-token"
MORNING = datetime(2026, 11, 17, 13, 0, tzinfo=UTC)  # Tue 08:00 in New York


@pytest.fixture
def fake() -> Any:
    with FakeTwilio(ACCOUNT, TOKEN) as server:
        yield server


def sender(fake: FakeTwilio, **options: Any) -> TwilioSender:
    options = options or {"from_number": "+13045550100"}
    return TwilioSender(ACCOUNT, TOKEN, api_base_url=fake.base_url, **options)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def send_once(s: TwilioSender, to: str, body: str) -> Any:
    try:
        return await s.send(to, body)
    finally:
        await s.close()


def test_a_text_goes_over_http_with_the_form_twilio_expects(fake: FakeTwilio) -> None:
    sent = run(send_once(sender(fake), "+13045550142", "Hello there"))
    assert sent.sid.startswith("SM") and sent.status == "queued"
    (message,) = fake.messages
    assert message.form == {"To": "+13045550142", "From": "+13045550100", "Body": "Hello there"}
    assert fake.requests == [("POST", f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json", 201)]
    by_service = sender(fake, messaging_service_sid="MG" + "1" * 32, status_callback="https://x/s")
    run(send_once(by_service, "+13045550143", "Hi"))
    assert fake.messages[1].form["MessagingServiceSid"] == "MG" + "1" * 32
    assert fake.messages[1].form["StatusCallback"] == "https://x/s"
    assert "From" not in fake.messages[1].form


def test_wrong_credentials_are_the_senders_problem_not_the_texts(fake: FakeTwilio) -> None:
    bad = TwilioSender(ACCOUNT, "wrong", from_number="+13045550100", api_base_url=fake.base_url)
    with pytest.raises(SenderUnauthorized) as caught:
        run(send_once(bad, "+13045550142", "Hi"))
    assert caught.value.http_status == 401 and fake.messages == []
    assert not isinstance(caught.value, SendRefused), "a 401 never fails a text"


@pytest.mark.parametrize("code", [21610, 21211, 21614])
def test_twilio_error_codes_are_definitive_refusals(fake: FakeTwilio, code: int) -> None:
    fake.script.refuse["+13045550142"] = code
    with pytest.raises(SendRefused) as caught:
        run(send_once(sender(fake), "+13045550142", "Hi"))
    assert (caught.value.code, caught.value.http_status) == (code, 400)


def test_throttling_and_server_errors_are_retryable_with_retry_after(fake: FakeTwilio) -> None:
    fake.script.throttle_next, fake.script.retry_after_s = 1, 7
    with pytest.raises(SendRetryable) as throttled:
        run(send_once(sender(fake), "+13045550142", "Hi"))
    assert (throttled.value.code, throttled.value.retry_after_s) == (20429, 7.0)
    fake.script.fail_next = 1
    with pytest.raises(SendRetryable) as failed:
        run(send_once(sender(fake), "+13045550142", "Hi"))
    assert failed.value.http_status == 500
    nobody = TwilioSender(
        ACCOUNT, TOKEN, from_number="+13045550100", api_base_url="http://127.0.0.1:9"
    )
    with pytest.raises(SendRetryable, match="network"):
        run(send_once(nobody, "+13045550142", "Hi"))


def test_find_sent_looks_up_by_number_body_and_time(fake: FakeTwilio) -> None:
    before = wall_clock.now() - timedelta(minutes=1)
    sent = run(send_once(sender(fake), PHONE, "Check-in text"))

    async def look(body: str, since: datetime) -> Any:
        s = sender(fake)
        try:
            return await s.find_sent(PHONE, body, since, wall_clock.now() + timedelta(minutes=1))
        finally:
            await s.close()

    assert run(look("Check-in text", before)).sid == sent.sid
    assert run(look("Another text", before)) is None
    assert run(look("Check-in text", wall_clock.now() + timedelta(minutes=5))) is None


# --- the dispatcher against the fake ------------------------------------------------------


def dispatch_with(t: Texting, fake: FakeTwilio, **options: Any) -> Dispatcher:
    return dispatch_through(t, sender(fake), **options)


def dispatch_through(t: Texting, s: TwilioSender, **options: Any) -> Dispatcher:
    """A dispatcher run until nothing is due, through this sender (then closed)."""
    d = Dispatcher(t.store, t.cipher, t.s.programs, s, t.clock, rate_per_s=1000, **options)

    async def go() -> None:
        try:
            await d.run(until_idle=True)
        finally:
            await s.close()

    run(go())
    return d


def reconcile_with(d: Dispatcher, *, checking_only: bool) -> None:
    """`d.reconcile` as at start-up or as the running check; the sender closed after."""

    async def go() -> None:
        try:
            await d.reconcile(checking_only=checking_only)
        finally:
            await d.sender.close()  # type: ignore[attr-defined]

    run(go())


def queued_case(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio | None = None
) -> Texting:
    t = texting(store, cipher, tmp_path)
    if fake is not None:
        fake.clock = t.clock  # Twilio's clock and ours agree
    t.schedule(t.open_case())
    t.s.now = MORNING
    return t


def state_of(t: Texting, kind: str) -> Any:
    return next(r for r in t.texts() if r.kind == kind)


def test_21610_revokes_consent_and_is_never_retried(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio
) -> None:
    t = queued_case(store, cipher, tmp_path)
    fake.script.refuse[PHONE] = 21610
    dispatch_with(t, fake)
    check_in = state_of(t, "check_in")
    assert (check_in.state, check_in.error_code) == (TextState.FAILED, 21610)
    assert state_of(t, "follow_up_day_3").state == TextState.CANCELLED
    with store.engine.connect() as conn:
        last = conn.execute(select(sms_consents).order_by(sms_consents.c.id.desc())).first()
    assert last is not None and (last.granted, last.source) == (False, "twilio_21610")
    fake.script.refuse.clear()
    t.s.now = MORNING + timedelta(days=3)
    dispatch_with(t, fake)
    assert fake.messages == [] and len(fake.requests) == 1, "one attempt, never again"


def test_an_invalid_number_flags_the_case(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio
) -> None:
    t = queued_case(store, cipher, tmp_path)
    fake.script.refuse[PHONE] = 21211
    dispatch_with(t, fake)
    assert state_of(t, "check_in").state == TextState.FAILED
    (item,) = store.queue("example")
    assert item.phone_invalid
    assert {r.state for r in t.texts()} == {TextState.FAILED, TextState.CANCELLED}


def test_throttled_text_waits_at_least_retry_after_then_goes_once(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio
) -> None:
    t = queued_case(store, cipher, tmp_path)
    fake.script.throttle_next, fake.script.retry_after_s = 1, 120
    dispatch_with(t, fake)
    check_in = state_of(t, "check_in")
    assert check_in.state == TextState.QUEUED and check_in.error_code == 20429
    assert check_in.send_after >= MORNING + timedelta(seconds=120)
    t.s.now = check_in.send_after
    dispatch_with(t, fake)
    assert state_of(t, "check_in").state == TextState.SENT
    assert len(fake.received_by(PHONE)) == 1


def test_a_crash_between_send_and_record_is_reconciled_not_resent(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio
) -> None:
    t = queued_case(store, cipher, tmp_path, fake)
    first = Dispatcher(store, cipher, t.s.programs, sender(fake), t.clock)
    (claimed,) = first.claim(t.s.now)  # state `sending`, committed: then the send...

    async def send_then_crash() -> None:
        s = sender(fake)
        try:
            await s.send(claimed.to, claimed.body)  # ...reaches Twilio, the record never happens
        finally:
            await s.close()

    run(send_then_crash())
    assert state_of(t, "check_in").state == TextState.SENDING
    t.s.now += timedelta(minutes=3)
    dispatch_after_restart = Dispatcher(store, cipher, t.s.programs, sender(fake), t.clock)

    async def restart() -> None:
        await dispatch_after_restart.reconcile()
        await dispatch_after_restart.run(until_idle=True)
        await dispatch_after_restart.sender.close()  # type: ignore[attr-defined]

    run(restart())
    check_in = state_of(t, "check_in")
    assert check_in.state == TextState.SENT and check_in.twilio_sid == fake.messages[0].sid
    assert len(fake.received_by(PHONE)) == 1, "the client got the text exactly once"
    assert dispatch_after_restart.stats.reconciled_sent == 1


def test_a_claim_that_never_reached_twilio_is_sent_after_the_restart(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio
) -> None:
    t = queued_case(store, cipher, tmp_path)
    Dispatcher(store, cipher, t.s.programs, sender(fake), t.clock).claim(t.s.now)
    d = Dispatcher(store, cipher, t.s.programs, sender(fake), t.clock)

    async def restart() -> None:
        await d.reconcile()
        await d.run(until_idle=True)
        await d.sender.close()  # type: ignore[attr-defined]

    run(restart())
    assert d.stats.reconciled_requeued == 1
    assert state_of(t, "check_in").state == TextState.SENT
    assert len(fake.received_by(PHONE)) == 1


def test_the_pacer_spaces_sends_evenly_and_honours_retry_after() -> None:
    """Fake time: the pacer's clock and sleep are injected, nothing really waits."""
    now = [100.0]

    async def fake_sleep(seconds: float) -> None:
        now[0] += seconds

    async def go() -> list[float]:
        pacer, stamps = Pacer(50, monotonic=lambda: now[0], sleep=fake_sleep), []
        for i in range(10):
            if i == 5:
                pacer.pause(7.0)  # a 429 said Retry-After: 7
            await pacer.wait()
            stamps.append(now[0])
        return stamps

    stamps = run(go())
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(stamps)]
    assert gaps[:4] == [0.02] * 4, "50 a second: one every 20 ms, no burst"
    assert gaps[4] == pytest.approx(7.0, abs=0.03), "Retry-After paused the sender"
    assert gaps[5:] == [0.02] * 4


def test_two_senders_claiming_at_once_never_claim_the_same_text(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio
) -> None:
    import threading

    from sqlalchemy.exc import OperationalError

    t = queued_case(store, cipher, tmp_path)
    for n, first in enumerate(("Bea", "Cy", "Di"), start=1):  # three more clients
        t.open_case(first_name=first, phone=f"+1304555017{n}")
    for case_id in t.case_ids():
        t.schedule(case_id)
    t.s.now = MORNING  # the four check-ins are due (none 24 h late)
    barrier, claimed, refused = threading.Barrier(2), [], []

    def claim() -> None:
        d = Dispatcher(store, cipher, t.s.programs, sender(fake), t.clock)
        barrier.wait()
        try:
            claimed.extend(c.text_id for c in d.claim(t.s.now))
        except OperationalError:  # SQLite: the loser may be told "locked" and retries later
            refused.append(True)

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(claimed) == len(set(claimed)), "a text claimed twice would be sent twice"
    assert len(claimed) == 4 or refused


def test_numbers_quoted_by_twilio_never_reach_the_stored_reason() -> None:
    from services.sms.twilio_sender import scrub_numbers

    said = "The 'To' number +13045550142 is not a valid phone number. (304) 555-0142"
    assert scrub_numbers(said) == "The 'To' number [number] is not a valid phone number. [number]"
    assert scrub_numbers("code 21211, HTTP 400") == "code 21211, HTTP 400"


def test_a_send_with_no_answer_is_checked_at_twilio_not_sent_again(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio
) -> None:
    """Twilio takes the text but the answer never comes (the client times out): the text
    is `checking` until the message list has been looked at, then is recorded `sent`
    with Twilio's sid. The client gets it once."""
    t = queued_case(store, cipher, tmp_path, fake)
    d = unanswered(t, fake)
    t.s.now += timedelta(seconds=30)
    reconcile_with(d, checking_only=True)  # too soon: not checked yet
    check_in = state_of(t, "check_in")
    assert check_in.state == TextState.CHECKING and "no answer" in check_in.reason
    assert d.stats.held_for_check == 1 and d.stats.retried == 0
    t.s.now += CHECK_AFTER
    reconcile_with(d, checking_only=True)
    check_in = state_of(t, "check_in")
    assert check_in.state == TextState.SENT and check_in.twilio_sid == fake.messages[0].sid
    assert len(fake.received_by(PHONE)) == 1, "the client got the text exactly once"
    assert d.stats.reconciled_sent == 1


def test_a_send_that_never_connected_is_retried_without_a_check(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    t = queued_case(store, cipher, tmp_path)
    nobody = TwilioSender(
        ACCOUNT, TOKEN, from_number="+13045550100", api_base_url="http://127.0.0.1:9"
    )
    d = dispatch_through(t, nobody)
    check_in = state_of(t, "check_in")
    assert check_in.state == TextState.QUEUED and "network fault" in check_in.reason
    assert d.stats.retried == 1 and d.stats.held_for_check == 0


def test_a_running_dispatcher_checks_unanswered_texts_by_itself(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio
) -> None:
    """The worker's loop (not a restart) looks the text up CHECK_AFTER later on the
    injected clock; the check's own period is shortened to keep the test short."""
    t = queued_case(store, cipher, tmp_path, fake)
    fake.script.delay_s = 2.0
    impatient = sender(fake, from_number="+13045550100", timeout_s=0.3)
    d = Dispatcher(
        store, cipher, t.s.programs, impatient, t.clock, rate_per_s=1000, check_every_s=0.05
    )

    async def until(condition: Any) -> None:
        async with asyncio.timeout(15):
            while not condition():
                await asyncio.sleep(0.02)

    async def go() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(d.run(stop))
        try:
            await until(lambda: d.stats.held_for_check == 1)
            fake.script.delay_s = 0
            t.s.now += CHECK_AFTER
            await until(lambda: d.stats.reconciled_sent == 1)
        finally:
            stop.set()
            await running
            await impatient.close()

    run(go())
    assert state_of(t, "check_in").state == TextState.SENT
    assert len(fake.received_by(PHONE)) == 1


def test_the_running_check_never_touches_a_text_being_sent(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio
) -> None:
    """A text in `sending` may sit in another dispatcher's send queue: only a restart's
    reconcile (no sends in flight) may settle it, never the running check."""
    t = queued_case(store, cipher, tmp_path, fake)
    other = Dispatcher(store, cipher, t.s.programs, sender(fake), t.clock)
    assert len(other.claim(t.s.now)) == 1  # `sending`, in the other's queue
    t.s.now += timedelta(hours=1)
    d = Dispatcher(store, cipher, t.s.programs, sender(fake), t.clock)
    reconcile_with(d, checking_only=True)
    assert state_of(t, "check_in").state == TextState.SENDING
    assert fake.requests == [] and d.stats.reconciled_requeued == 0


def unanswered(t: Texting, fake: FakeTwilio) -> Dispatcher:
    """The check-in sent with no answer: `checking`, its check due CHECK_AFTER later."""
    fake.script.delay_s = 2.0  # the message is recorded, the answer comes too late
    d = dispatch_through(t, sender(fake, from_number="+13045550100", timeout_s=0.3))
    fake.script.delay_s = 0
    assert state_of(t, "check_in").state == TextState.CHECKING
    return d


def test_a_restart_checks_an_unanswered_text_only_when_its_check_is_due(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio
) -> None:
    t = queued_case(store, cipher, tmp_path, fake)
    unanswered(t, fake)
    restarted = Dispatcher(store, cipher, t.s.programs, sender(fake), t.clock)
    reconcile_with(restarted, checking_only=False)  # 0 s after: Twilio may not list it yet
    assert state_of(t, "check_in").state == TextState.CHECKING
    t.s.now += CHECK_AFTER
    reconcile_with(restarted, checking_only=False)
    assert state_of(t, "check_in").state == TextState.SENT
    assert len(fake.received_by(PHONE)) == 1


def test_a_check_settles_nothing_another_dispatcher_settled_meanwhile(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio
) -> None:
    """Two checkers saw the same `checking` text: one found nothing and the text was
    claimed again; the other's late "not found" must not queue it a second time."""
    t = queued_case(store, cipher, tmp_path, fake)
    d = unanswered(t, fake)
    t.s.now += CHECK_AFTER
    (seen,) = d._unsettled_rows(checking_only=True)
    fake.messages.clear()  # as if Twilio had not taken it: the first checker requeues
    d._settle(seen, None)
    assert len(d.claim(t.s.now)) == 1  # and it is claimed again, `sending`
    d._settle(seen, None)  # the second checker, late, with what it saw before
    check_in = state_of(t, "check_in")
    assert check_in.state == TextState.SENDING and d.stats.reconciled_requeued == 1

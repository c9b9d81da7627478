"""Twilio away, throttling or refusing our credentials is not the client's refusal: the
sender pauses as a whole and the texts wait, then meet quiet hours and the 24-hour rule
as usual. Real twilio-python against the local fake Twilio, real store (SQLite,
PostgreSQL); the injected clock moves forward, nothing sleeps."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.sms import TextState
from services.crypto.fields import FieldCipher
from services.sms.dispatch import Dispatcher
from services.sms.sender_pause import PauseState
from services.sms.twilio_sender import retry_after_s
from services.store.repository import Store
from tests.integration.test_sms_checkins import PHONE, Texting
from tests.integration.test_sms_twilio import (
    ACCOUNT,
    MORNING,
    TOKEN,
    dispatch_with,
    queued_case,
    sender,
    state_of,
)
from tests.support_twilio import FakeTwilio

STEP = timedelta(seconds=20)  # how far the clock moves between two runs of the sender


@pytest.fixture
def fake() -> Any:
    with FakeTwilio(ACCOUNT, TOKEN) as server:
        yield server


def paused_dispatcher(t: Texting, fake: FakeTwilio, reports: list[Any], **options: Any) -> Any:
    """One dispatcher kept across runs (its pause lives in it), reporting each change."""
    d = Dispatcher(t.store, t.cipher, t.s.programs, sender(fake), t.clock, rate_per_s=1000,
                   report_pause=reports.append, **options)  # fmt: skip
    d.pause.jitter = lambda: 0.999  # the longest waits: the cap is tested at its worst
    return d


def run_once(d: Dispatcher) -> None:
    async def go() -> None:
        try:
            await d.run(until_idle=True)
        finally:
            await d.sender.close()  # type: ignore[attr-defined]

    asyncio.run(go())


def posts(fake: FakeTwilio, status: int | None = None) -> int:
    return sum(1 for m, _, s in fake.requests if m == "POST" and status in (None, s))


def test_a_30_minute_twilio_outage_ends_with_the_text_sent_once(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio
) -> None:
    t = queued_case(store, cipher, tmp_path, fake)
    reports: list[PauseState | None] = []
    d = paused_dispatcher(t, fake, reports)
    fake.script.down = True
    outage_ends = MORNING + timedelta(minutes=30)
    while t.s.now < outage_ends:
        run_once(d)
        check_in = state_of(t, "check_in")
        assert check_in.state == TextState.QUEUED, "an outage never fails a text"
        assert check_in.tries == 0 and "outage" in check_in.reason
        assert d.pause.state is not None and d.pause.state.cause == "outage"
        assert d.pause.state.resume_at - t.s.now <= timedelta(minutes=10), "the wait is capped"
        t.s.now += STEP
    tried_in_outage = posts(fake, 503)
    assert tried_in_outage == posts(fake) and 5 <= tried_in_outage <= 12, "backoff, not a flood"
    fake.script.down = False
    while state_of(t, "check_in").state == TextState.QUEUED:
        assert t.s.now < outage_ends + timedelta(minutes=10) + STEP, "tried within the cap"
        run_once(d)
        t.s.now += STEP
    check_in = state_of(t, "check_in")
    assert check_in.state == TextState.SENT and check_in.tries == 1
    assert len(fake.received_by(PHONE)) == 1
    assert reports[0] is not None and reports[0].since == MORNING
    assert reports[-1] is None and d.pause.state is None, "the pause was reported over"
    assert d.stats.paused == 1 and d.stats.failed == 0


def _day_3_due_while_twilio_is_away(t: Texting, fake: FakeTwilio, at: datetime) -> None:
    dispatch_with(t, fake)  # the check-in, at 08:00 on Tuesday
    assert state_of(t, "check_in").state == TextState.SENT
    t.s.now = at  # Thursday evening: day 3 (due 09:00) is late, but timely
    fake.script.down = True


def test_a_text_that_waited_into_quiet_hours_is_deferred_not_sent_at_night(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio
) -> None:
    t = queued_case(store, cipher, tmp_path, fake)
    _day_3_due_while_twilio_is_away(t, fake, datetime(2026, 11, 20, 1, 40, tzinfo=UTC))
    d = paused_dispatcher(t, fake, [])
    end = datetime(2026, 11, 20, 2, 10, tzinfo=UTC)  # Thursday 21:10 in New York
    while t.s.now < end:
        run_once(d)
        t.s.now += STEP
    fake.script.down = False
    for _ in range(40):  # Twilio is back, the night goes on: the probe never goes
        run_once(d)
        t.s.now += STEP
    day3 = state_of(t, "follow_up_day_3")
    assert day3.state == TextState.QUEUED
    assert day3.send_after == datetime(2026, 11, 20, 13, 0, tzinfo=UTC)  # Friday 08:00
    assert len(fake.received_by(PHONE)) == 1, "only the check-in, nothing at night"
    t.s.now = day3.send_after
    run_once(d)
    assert state_of(t, "follow_up_day_3").state == TextState.SENT
    assert len(fake.received_by(PHONE)) == 2 and d.pause.state is None


def test_a_text_that_became_24_hours_late_while_twilio_was_away_is_cancelled(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio
) -> None:
    t = queued_case(store, cipher, tmp_path, fake)
    t.s.now = datetime(2026, 11, 18, 1, 50, tzinfo=UTC)  # check-in due Mon 21:00: 23 h 50 late
    fake.script.down = True
    d = paused_dispatcher(t, fake, [])
    while t.s.now < datetime(2026, 11, 18, 2, 20, tzinfo=UTC):
        run_once(d)
        t.s.now += STEP
    fake.script.down = False
    run_once(d)
    check_in = state_of(t, "check_in")
    assert (check_in.state, check_in.reason) == (TextState.CANCELLED, "more than 24 h late")
    assert fake.messages == []


def test_21611_the_senders_queue_is_full_is_retried_not_final(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio
) -> None:
    t = queued_case(store, cipher, tmp_path, fake)
    fake.script.queue_full_next, fake.script.retry_after_header = 1, "30"
    d = dispatch_with(t, fake)
    check_in = state_of(t, "check_in")
    assert (check_in.state, check_in.error_code, check_in.tries) == (TextState.QUEUED, 21611, 0)
    assert check_in.send_after == MORNING + timedelta(seconds=30), "Retry-After honoured"
    assert d.stats.failed == 0 and d.pause.state is not None
    assert d.pause.state.cause == "throttled"
    t.s.now = check_in.send_after
    dispatch_with(t, fake)
    assert state_of(t, "check_in").state == TextState.SENT
    assert len(fake.received_by(PHONE)) == 1


def test_a_retry_after_given_as_an_http_date_is_honoured(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio
) -> None:
    t = queued_case(store, cipher, tmp_path, fake)
    later = MORNING + timedelta(minutes=7)
    fake.script.throttle_next = 1
    fake.script.retry_after_header = format_datetime(later, usegmt=True)
    dispatch_with(t, fake)
    check_in = state_of(t, "check_in")
    assert (check_in.state, check_in.error_code) == (TextState.QUEUED, 20429)
    assert check_in.send_after == later, "seven minutes after Twilio's own Date"
    t.s.now = later - timedelta(seconds=1)
    dispatch_with(t, fake)
    assert posts(fake) == 1, "not a try before the date"
    t.s.now = later
    dispatch_with(t, fake)
    assert state_of(t, "check_in").state == TextState.SENT


def test_retry_after_reads_seconds_and_http_dates() -> None:
    noon = datetime(2026, 11, 17, 12, 0, tzinfo=UTC)
    date = format_datetime(noon, usegmt=True)
    in_90 = format_datetime(noon + timedelta(seconds=90), usegmt=True)
    assert retry_after_s({"retry-after": "7"}) == 7.0
    assert retry_after_s({"retry-after": in_90, "date": date}) == 90.0
    assert retry_after_s({"retry-after": in_90}, lambda: noon) == 90.0, "no Date: our clock"
    assert retry_after_s({"retry-after": date, "date": in_90}) == 0.0, "a date past: now"
    assert retry_after_s({"retry-after": in_90}) is None, "no Date and no clock: unknown"
    for unreadable in ("soon", "", "nan", "-"):
        assert retry_after_s({"retry-after": unreadable}) is None
    assert retry_after_s({}) is None


def test_a_401_pauses_sending_releases_the_claims_reports_and_resumes(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    t = queued_case(store, cipher, tmp_path, fake)
    for n, first in enumerate(("Bea", "Cy", "Di"), start=1):
        t.open_case(first_name=first, phone=f"+1304555017{n}")
    for case_id in t.case_ids():
        t.schedule(case_id)
    t.s.now = MORNING  # four check-ins due
    fake.auth_token = "rotated-at-twilio"  # our credentials no longer work
    reports: list[PauseState | None] = []
    d = paused_dispatcher(t, fake, reports, concurrency=1)
    with caplog.at_level(logging.ERROR, logger="services.sms.sender_pause"):
        run_once(d)
    check_ins = [r for r in t.texts() if r.kind == "check_in"]
    assert len(check_ins) == 4 and {r.state for r in check_ins} == {TextState.QUEUED}
    assert {r.tries for r in check_ins} == {0}, "released, no try used up"
    assert (posts(fake), posts(fake, 401), fake.messages) == (1, 1, []), "one try, not four"
    assert reports[-1] is not None and reports[-1].cause == "unauthorized"
    assert any("refused our credentials" in r.getMessage() for r in caplog.records)
    t.s.now = reports[-1].resume_at
    run_once(d)  # the probe: still refused, a longer wait
    assert posts(fake, 401) == 2 and d.pause.state is not None
    assert d.pause.state.failed_probes == 1
    assert d.pause.state.resume_at - t.s.now > reports[0].resume_at - MORNING  # type: ignore[union-attr]
    fake.auth_token = TOKEN  # the operator fixed it at Twilio
    t.s.now = d.pause.state.resume_at
    run_once(d)  # the probe goes: sending resumes
    assert reports[-1] is None and d.pause.state is None
    run_once(d)
    assert {r.state for r in t.texts() if r.kind == "check_in"} == {TextState.SENT}
    assert len(fake.messages) == 4 and len({m.to for m in fake.messages}) == 4
    assert d.stats.failed == 0 and d.stats.paused == 1


def test_the_pause_shows_in_qrt_status_and_metrics_until_sending_resumes(
    store: Store, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Wired as the SMS worker is (services/bootstrap.py): settings, run dir, status."""
    from services.bootstrap import bootstrap
    from services.cli_status import _print_table, status
    from services.runtime.system_state import SystemCollector
    from services.settings import Settings

    t = queued_case(store, cipher, tmp_path, fake)
    settings = Settings(data_dir=tmp_path / "data", twilio_account_sid=ACCOUNT,
                        twilio_auth_token=TOKEN, twilio_from_number="+13045550100",
                        twilio_api_base_url=fake.base_url, sms_retry_max_seconds=60)  # type: ignore[arg-type]  # fmt: skip
    ctx = bootstrap(settings, store=store, cipher=cipher, clock=t.clock, programs=t.s.programs)
    d = ctx.dispatcher
    assert d.retry.max_backoff_s == 60 and d.retry.max_tries == settings.sms_max_tries

    def paused_gauge() -> dict[str, float]:
        found = SystemCollector(store, settings, lambda: None, t.clock).collect()
        family = next(f for f in found if f.name == "qrt_sms_sending_paused")
        return {s.labels["cause"]: s.value for s in family.samples}

    fake.auth_token = "rotated-at-twilio"
    run_once(d)
    shown = status(settings)["sms_sending"]
    assert shown["cause"] == "unauthorized" and "401" in shown["detail"]
    assert shown["since"] == MORNING.isoformat()
    _print_table(status(settings))
    assert "sms sending PAUSED (unauthorized)" in capsys.readouterr().out
    assert paused_gauge() == {"unauthorized": 1, "outage": 0, "throttled": 0}
    fake.auth_token = TOKEN
    assert d.pause.state is not None
    t.s.now = d.pause.state.resume_at
    run_once(d)
    assert state_of(t, "check_in").state == TextState.SENT
    assert status(settings)["sms_sending"] == "ok"
    assert paused_gauge() == {"unauthorized": 0, "outage": 0, "throttled": 0}

"""The database goes away under a running SMS sender and comes back: every text ends
`sent` exactly once, without a restart. PostgreSQL behind a TCP proxy the test cuts
(connections dropped, new ones refused) and restores; Twilio is the local fake."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from schemas.sms import TextState
from services.crypto.fields import FieldCipher
from services.sms.dispatch import Dispatcher
from services.store.database import make_engine, migrate
from services.store.repository import Store
from services.store.tables import sms_texts
from tests.integration.test_sms_checkins import texting
from tests.integration.test_sms_twilio import ACCOUNT, MORNING, TOKEN, sender
from tests.stack_fixtures import fresh_pg_schema
from tests.support import wait_for
from tests.support_proxy import TcpProxy
from tests.support_twilio import FakeTwilio

CLIENTS = 16
FIRST = ["Ada", "Bo", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kit", "Lu",
         "Max", "Ned", "Oz", "Pia"]  # fmt: skip


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(ACCOUNT, TOKEN) as server:
        yield server


def states(store: Store) -> Counter[str]:
    with store.engine.connect() as conn:
        return Counter(conn.execute(select(sms_texts.c.state)).scalars())


def test_a_database_outage_under_a_running_sender_ends_with_every_text_sent_once(
    postgres_url: str, cipher: FieldCipher, tmp_path: Path, fake: FakeTwilio
) -> None:
    fresh_pg_schema(postgres_url)
    engine = make_engine(postgres_url)
    migrate(engine)
    store = Store(engine)
    t = texting(store, cipher, tmp_path)
    for n in range(CLIENTS):
        t.open_case(first_name=FIRST[n], last_name=f"Outage{FIRST[n]}", phone=f"+1304555{n:04d}")
    for case_id in t.case_ids():
        t.schedule(case_id)
    t.s.now = MORNING  # every client's check-in is due, none is late
    fake.clock = t.clock
    due = sum(1 for r in t.texts() if r.send_after <= MORNING)
    assert due == CLIENTS

    url = make_url(postgres_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        through = Store(make_engine(url.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False)))  # fmt: skip
        d = Dispatcher(through, cipher, t.s.programs, sender(fake), t.clock, rate_per_s=4,
                       concurrency=2, batch=4)  # fmt: skip
        stop = asyncio.Event()
        loop = asyncio.new_event_loop()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                loop.run_until_complete(d.run(stop))
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        try:
            wait_for(lambda: len(fake.messages) >= 3, 30, "the first texts sent")
            proxy.cut()  # the database is gone: connections dropped, connects refused
            time.sleep(4)  # the length of the outage (texts are being sent meanwhile)
            assert worker.is_alive() and not errors, errors
            proxy.restore()
            wait_for(lambda: states(store)[TextState.SENT] == due, 90, "every text recorded sent")
        finally:
            loop.call_soon_threadsafe(stop.set)
            worker.join(60)
            through.dispose()
    assert not errors, errors
    sent_to: Counter[Any] = Counter(m.form["To"] for m in fake.messages)
    assert len(sent_to) == due and set(sent_to.values()) == {1}, "each client exactly once"
    left = states(store)
    assert left[TextState.SENDING] == left[TextState.CHECKING] == 0, left
    store.dispose()

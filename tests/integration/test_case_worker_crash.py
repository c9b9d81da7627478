"""Kill the case worker mid-stream (SIGKILL) and restart it: no case lost, none duplicated."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from schemas.cases import CaseEvent
from schemas.codec import decode
from services.settings import Settings
from services.simulation.synthetic import synthetic_events
from services.store.database import make_engine, migrate
from services.store.repository import Store
from services.topics import ensure_topics
from tests import wall_clock
from tests.support import Worker, producer, read_topic, stack_env, wait_for
from tests.support_store import (
    cases_per_event,
    count_cases,
    count_events,
    count_events_handled,
    unpublished_case_events,
)

EVENTS = 2000  # a backlog of many batches: the kill lands mid-stream


def test_case_worker_killed_mid_stream_loses_and_duplicates_nothing(
    broker: str, topic_prefix: str, tmp_path: Path, database_url: str
) -> None:
    settings = Settings(topic_prefix=topic_prefix, data_dir=tmp_path)
    ensure_topics(settings, broker)
    engine = make_engine(database_url)
    migrate(engine)
    store = Store(engine)
    env = stack_env(tmp_path, broker, topic_prefix, database_url)
    intake = Worker("intake", env, tmp_path).start()
    cases = Worker("cases", env, tmp_path)
    try:
        events = list(synthetic_events(EVENTS, wall_clock.now(), seed=11))
        send = producer(broker)
        for event in events:
            topic = settings.topic(f"overdose.{event['source']}.v1")
            send.send(topic, key=event["event_id"].encode(), value=json.dumps(event).encode())
        send.flush()
        send.close()
        # Wait until intake has routed everything, so the case worker sees a full backlog.
        read_topic(broker, settings.topic("followup.intake.v1"), EVENTS, timeout_s=60)

        cases.start()
        wait_for(lambda: count_events(store) > 0, 60, "the first stored batch", every_s=0.005)
        cases.kill()
        at_kill = count_events(store)
        assert 0 < at_kill < EVENTS, f"the kill must land mid-stream (stored {at_kill})"

        cases.start()
        wait_for(lambda: count_events(store) >= EVENTS, 120, f"{EVENTS} stored events")
        wait_for(lambda: not unpublished_case_events(store), 30, "the outbox to drain")

        non_fatal = sum(1 for e in events if not e["fatal"])
        assert count_events(store) == EVENTS, "every event stored exactly once"
        per_event = cases_per_event(store)
        assert len(per_event) == non_fatal, "every non-fatal event belongs to a case"
        assert all(len(ids) == 1 for ids in per_event.values()), "...to exactly one"
        stored_ids = {ids[0] for ids in per_event.values()}
        assert count_cases(store, "example") == len(stored_ids), "no case without its events"
        opened = count_events_handled(store, "case_opened")
        assert opened == len(stored_ids), "one opening event per case: none opened twice"

        published = read_topic(broker, settings.topic("followup.cases.v1"), len(stored_ids))
        announced = Counter(decode(CaseEvent, m.value).case_id for m in published)
        assert set(announced) == stored_ids, "every case announced on followup.cases.v1"
        assert {m.key for m in published} == {b"example"}
    finally:
        cases.stop()
        intake.stop()
        store.dispose()

"""Latency of a fresh stack at a steady rate: non-fatal events published one at a time
at --rate (kafka-python, the `qrt publish` producer: acks=all, linger 5 ms), while a
thread reads the queue API over and over; an event's latency runs from just before its
send() to the first queue response that lists it. The store's timestamps split it into
stages."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
from kafka import KafkaProducer
from sqlalchemy import select

from services.ingest.publisher import make_producer
from services.store.database import make_engine
from services.store.repository import Store
from services.store.tables import events as events_table
from services.topics import SOURCE_TOPICS
from tests.benchmarks.common import percentile
from tests.benchmarks.pipeline_memory import snapshot
from tests.benchmarks.pipeline_stack import BenchFailure, Stack, encoded, gen_events, say
from tests.support import cli_bearer
from tests.support_store import count_cases, count_events

PROGRESS_S = 5.0
VISIBLE_WAIT_S = 60.0  # after the last send, how long every event may take to show
STAGES = ("publish_to_intake", "intake_to_case_batch", "case_batch_to_queue_api")


class QueuePoller(threading.Thread):
    """GET the program's queue back to back; when each event id was first listed."""

    def __init__(self, stack: Stack, gap_s: float) -> None:
        super().__init__(daemon=True)
        self.url = f"{stack.api}/api/v1/programs/example/queue"
        self.auth = cli_bearer(stack.dir, "bench")
        self.gap_s = gap_s
        self.seen: dict[str, float] = {}
        self.poll_ms: list[float] = []
        self.last = {"cases": 0, "refs": 0, "duplicate_refs": 0}
        self.lock, self.stop = threading.Lock(), threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30, headers=self.auth) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                page = client.get(self.url, params={"limit": 5000}).raise_for_status().json()
                items = page["items"]
                now = time.monotonic()
                self.poll_ms.append((now - started) * 1000)
                refs = [ref["event_id"] for item in items for ref in item["events"]]
                with self.lock:
                    for event_id in refs:
                        self.seen.setdefault(event_id, now)
                    dups = max(self.last["duplicate_refs"], len(refs) - len(set(refs)))
                    self.last.update(cases=len(items), refs=len(refs), duplicate_refs=dups)
                self.stop.wait(self.gap_s)

    def count_seen(self, ids: set[str]) -> int:
        with self.lock:
            return len(ids & self.seen.keys())


def _send_at_rate(
    producer: KafkaProducer, evs: list[dict[str, Any]], rate: float, poller: QueuePoller
) -> dict[str, Any]:
    """Event i leaves at t0 + i/rate, whatever the acknowledgements of the ones before
    (awaited one by one they would cap the rate on a busy machine); the send time of
    each (monotonic and wall) and when its acknowledgement came."""
    sent_at: dict[str, float] = {}
    sent_wall: dict[str, float] = {}  # to compare with the store's received/recorded_at
    ack_ms: dict[str, float] = {}
    failed: list[BaseException] = []
    ours, every = {e["event_id"] for e in evs}, max(1, round(rate * PROGRESS_S))
    t0 = time.monotonic()
    for i, event in enumerate(evs):
        wait = t0 + i / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        topic, key, value = encoded(event)
        eid, before, wall = event["event_id"], time.monotonic(), time.time()
        future = producer.send(topic, key=key, value=value)
        sent_at[eid], sent_wall[eid] = before, wall
        future.add_callback(lambda _, e=eid, b=before: ack_ms.update({e: _ms_since(b)}))
        future.add_errback(failed.append)
        if (i + 1) % every == 0:
            say(f"  sent {i + 1:,}/{len(evs):,}; visible in the queue {poller.count_seen(ours):,}")
    send_s = time.monotonic() - t0
    producer.flush(timeout=30)
    if failed or len(ack_ms) != len(evs):
        raise BenchFailure(f"{len(evs) - len(ack_ms)} sends not acknowledged: {failed[:3]}")
    return {"sent_at": sent_at, "sent_wall": sent_wall, "ack_ms": ack_ms, "send_s": send_s}


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000


def _wait_visible(poller: QueuePoller, ours: set[str]) -> None:
    deadline = time.monotonic() + VISIBLE_WAIT_S
    while time.monotonic() < deadline and poller.count_seen(ours) < len(ours):
        if not poller.is_alive():
            raise BenchFailure("the queue poller died (API error?)")
        time.sleep(0.1)


def _stages(stack: Stack, sent: dict[str, Any], seen: dict[str, float]) -> dict[str, Any]:
    """Per stage p50/p99 (ms): received_at is when intake screened the event,
    recorded_at when its case batch began; the rest is until the queue listed it."""
    store = Store(make_engine(stack.db_url))
    with store.engine.connect() as conn:
        c = events_table.c
        rows = conn.execute(select(c.event_id, c.received_at, c.recorded_at))
        times = {r[0]: (r[1].timestamp(), r[2].timestamp()) for r in rows}
    store.dispose()
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    for eid, seen_mono in seen.items():
        received, recorded = times[eid]
        wall = sent["sent_wall"][eid]
        seen_wall = wall + seen_mono - sent["sent_at"][eid]
        steps = (received - wall, recorded - received, seen_wall - recorded)
        for name, step in zip(STAGES, steps, strict=True):
            stages[name].append(step * 1000)
    return {
        name: {f"p{p}": round(percentile(v, p), 1) for p in (50, 99)} for name, v in stages.items()
    }


def _check(stack: Stack, poller: QueuePoller, evs: list[dict[str, Any]]) -> dict[str, float]:
    """Every event listed once in the queue and stored once; their first-listed times."""
    ours = {e["event_id"] for e in evs}
    with poller.lock:
        seen = {eid: t for eid, t in poller.seen.items() if eid in ours}
        strangers, last = len(poller.seen) - len(seen), dict(poller.last)
    if len(seen) != len(evs) or strangers or last["duplicate_refs"]:
        raise BenchFailure(
            f"latency check failed: {len(seen)}/{len(evs)} events visible in the queue, "
            f"{strangers} unknown ids, {last['duplicate_refs']} listed twice, "
            f"{last['cases']} open cases in the last poll"
        )
    store = Store(make_engine(stack.db_url))
    stored, cases = count_events(store), count_cases(store)
    store.dispose()
    if stored != len(evs) or not 0 < cases <= len(evs):
        raise BenchFailure(f"store holds {stored} events, {cases} cases for {len(evs)} published")
    return seen


def phase_latency(
    stack: Stack, rate: float, seconds: float, seed: int, poll_gap_s: float
) -> dict[str, Any]:
    evs = gen_events(max(1, round(rate * seconds)), seed)
    for event in evs:
        event["fatal"] = False  # every one should open a case and show in the queue
    poller, producer = QueuePoller(stack, poll_gap_s), make_producer(stack.servers)
    try:
        for topic in set(SOURCE_TOPICS.values()):
            producer.partitions_for(topic)
        poller.start()
        say(f"  publishing {len(evs):,} non-fatal events at {rate:g}/s for {seconds:g} s ...")
        sent = _send_at_rate(producer, evs, rate, poller)
        _wait_visible(poller, {e["event_id"] for e in evs})
    finally:
        poller.stop.set()
        producer.close()
    poller.join(35)
    seen = _check(stack, poller, evs)
    say(f"  all {len(evs):,} events visible in the queue")
    lat = sorted((seen[eid] - sent["sent_at"][eid]) * 1000 for eid in seen)
    polls, acks = sorted(poller.poll_ms), sorted(sent["ack_ms"].values())
    return {
        "rate_target": rate,
        "rate_achieved": round(len(evs) / sent["send_s"], 1),
        "published": len(evs),
        "seen": len(seen),
        "measured_from": "time.monotonic() just before producer.send() (acks=all)",
        "measured_to": "queue API response received that first lists the event",
        **{f"p{p}_ms": round(percentile(lat, p), 1) for p in (50, 95, 99)},
        "max_ms": round(lat[-1], 1),
        "ack_p50_ms": round(percentile(acks, 50), 1),
        "ack_p99_ms": round(percentile(acks, 99), 1),
        "queue_polls": len(polls),
        "queue_poll_p50_ms": round(percentile(polls, 50), 1),
        "queue_poll_max_ms": round(polls[-1], 1),
        "queue_poll_gap_ms": poll_gap_s * 1000,
        "stages_ms": _stages(stack, sent, seen),
        "memory_after": snapshot(stack.pid),
    }

"""Throughput of a fresh stack: N synthetic events published at once, timed from the
first send until all N rows are in `events`, every non-fatal one in a case; the
stack's memory idle before and settled after; then a plain kafka-python consumer
reading the same N messages from the same broker (the ceiling)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaProducer
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import select

from services.store.database import make_engine
from services.store.repository import Store
from services.store.tables import events as events_table
from services.topics import SOURCE_TOPICS
from tests.benchmarks.pipeline_memory import brief, settled, snapshot
from tests.benchmarks.pipeline_stack import BenchFailure, Stack, encoded, say
from tests.support_store import count_cases, count_events

PROGRESS_S = 5.0  # a progress line this often
POLL_S = 0.2  # how often the store's event count is read
STALL_S = 120.0  # no new event row for this long: lost (a busy machine may pause for a minute)
PUBLISH_BATCH_BYTES = 256 * 1024


async def _publish(servers: str, messages: list[tuple[str, bytes, bytes]]) -> tuple[float, float]:
    """Send every message (acks=all, batched by aiokafka as the gateway's producer does,
    keyed by event id); (monotonic first send, monotonic last acknowledgement)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=servers,
        acks="all",
        linger_ms=5,
        max_batch_size=PUBLISH_BATCH_BYTES,
        client_id="qrt-bench-publish",
    )
    await producer.start()
    try:
        for topic in set(SOURCE_TOPICS.values()):
            await producer.partitions_for(topic)  # metadata fetched before the clock starts
        started = time.monotonic()
        acks = [await producer.send(t, key=k, value=v) for t, k, v in messages]
        await asyncio.gather(*acks)  # raises if the broker did not acknowledge one
        return started, time.monotonic()
    finally:
        await producer.stop()


def _wait_stored(stack: Stack, store: Store, n: int, t0: float) -> dict[str, Any]:
    """Poll the store until it holds n events, with a progress line every PROGRESS_S."""
    count, last_change, peak = 0, time.monotonic(), 0.0
    mark, timeline = (t0, 0), []
    while count < n:
        time.sleep(POLL_S)
        now, seen = time.monotonic(), count_events(store)
        if seen != count:
            count, last_change = seen, now
        if now - mark[0] >= PROGRESS_S:
            rss = snapshot(stack.pid)["rss_mb"]
            peak = max(peak, rss)
            recent = (count - mark[1]) / (now - mark[0])
            timeline.append([round(now - t0, 1), count, rss])
            say(
                f"  t={now - t0:6.1f} s  stored {count:>7,}/{n:,}  {recent:6,.0f} ev/s now, "
                f"{count / (now - t0):6,.0f} ev/s overall  stack {rss:,.0f} MB RSS"
            )
            mark = (now, count)
        if not stack.running():
            raise BenchFailure(f"`qrt up` ended at {count}/{n} events; see {stack.dir}")
        if now - last_change > STALL_S:
            raise BenchFailure(f"stalled at {count}/{n} events for {STALL_S:.0f} s (lost?)")
    elapsed = time.monotonic() - t0
    peak = max(peak, snapshot(stack.pid)["rss_mb"])  # a short run has no progress line
    return {"end_to_end_s": elapsed, "timeline": timeline, "peak_rss_mb": peak}


def _check_data(store: Store, evs: list[dict[str, Any]], non_fatal: int) -> int:
    """Every event stored once, every non-fatal one in a case; the number of cases."""
    n = len(evs)
    stored, cases = count_events(store), count_cases(store)
    with store.engine.connect() as conn:
        c = events_table.c
        rows = conn.execute(select(c.event_id, c.fatal, c.case_id)).all()
    ids = [r.event_id for r in rows]
    missing = {e["event_id"] for e in evs} - set(ids)
    caseless = sum(1 for r in rows if not r.fatal and r.case_id is None)
    if stored != n or len(set(ids)) != n or missing or caseless or not 0 < cases <= non_fatal:
        raise BenchFailure(
            f"data check failed: {stored} event rows ({len(set(ids))} distinct, "
            f"{len(missing)} missing) for {n} published; {caseless} non-fatal events "
            f"without a case; {cases} cases for {non_fatal} non-fatal"
        )
    return cases


def phase_size(
    stack: Stack, evs: list[dict[str, Any]], idle_s: float, settle_s: float
) -> dict[str, Any]:
    """Idle memory, then all of `evs` end to end, then memory settled after them."""
    n, non_fatal = len(evs), sum(1 for e in evs if not e["fatal"])
    idle = settled(stack.pid, idle_s)
    say(f"  idle ({idle_s:g} s after up): {brief(idle)}")
    messages = [encoded(e) for e in evs]
    store = Store(make_engine(stack.db_url))
    try:
        say(f"  publishing {n:,} events ({non_fatal:,} non-fatal) ...")
        t0, acked = asyncio.run(_publish(stack.servers, messages))
        publish_s, by_then = acked - t0, count_events(store)
        say(
            f"  published+acked in {publish_s:.2f} s ({n / publish_s:,.0f} ev/s); "
            f"{by_then:,} stored by then"
        )
        waited = _wait_stored(stack, store, n, t0)
        elapsed = waited["end_to_end_s"]
        say(f"  all {n:,} events stored in {elapsed:.2f} s ({n / elapsed:,.0f} ev/s)")
        after = settled(stack.pid, settle_s)  # also lets a late duplicate arrive
        say(f"  after ({settle_s:g} s settled): {brief(after)}")
        cases = _check_data(store, evs, non_fatal)
    finally:
        store.dispose()
    say(f"  every event once, every non-fatal one in a case: {cases:,} cases")
    return {
        "events": n,
        "non_fatal": non_fatal,
        "publish_s": round(publish_s, 3),
        "publish_eps": round(n / publish_s, 1),
        "stored_when_published": by_then,
        "end_to_end_s": round(elapsed, 3),
        "end_to_end_eps": round(n / elapsed, 1),
        "cases": cases,
        "memory_idle": idle,
        "memory_after": after,
        "peak_rss_mb_while_storing": waited["peak_rss_mb"],
        "timeline": waited["timeline"],
    }


def phase_baseline(stack: Stack, n: int) -> dict[str, Any]:
    """A plain KafkaConsumer (no group, no commits) reading the n source messages."""
    consumer = KafkaConsumer(
        bootstrap_servers=stack.servers.split(","),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        client_id="qrt-bench-baseline",
    )
    try:
        parts = [
            TopicPartition(topic, p)
            for topic in sorted(set(SOURCE_TOPICS.values()))
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        read, t0 = 0, time.monotonic()
        last_change, next_report = t0, t0 + PROGRESS_S
        while read < n:
            got = sum(len(r) for r in consumer.poll(timeout_ms=500, max_records=5000).values())
            now = time.monotonic()
            read, last_change = read + got, now if got else last_change
            if now >= next_report:
                say(f"  t={now - t0:6.1f} s  read {read:>7,}/{n:,}")
                next_report = now + PROGRESS_S
            if now - last_change > STALL_S:
                raise BenchFailure(f"baseline consumer stalled at {read}/{n} for {STALL_S:.0f} s")
        elapsed = time.monotonic() - t0
    finally:
        consumer.close()
    if read != n:
        raise BenchFailure(f"baseline consumer read {read} messages, expected {n}")
    say(f"  plain consumer read {n:,} messages in {elapsed:.2f} s ({n / elapsed:,.0f} ev/s)")
    return {"events": n, "seconds": round(elapsed, 3), "eps": round(n / elapsed, 1)}

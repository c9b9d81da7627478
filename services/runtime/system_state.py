"""The state of the whole system as an operator needs it, read from the store and the
broker: what is waiting (outboxes, the gateway's inbox, texts by state and the oldest
unsettled one, overdue timers) and how far each worker's consumer group is behind.
Read by the API's `/metrics` and `/readyz` and by `qrt status`; nothing here writes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from schemas.sms import TextState
from services.runtime.run_files import ALL_WORKERS, recorded_workers
from services.runtime.sending_state import read_sending_pause
from services.settings import Settings
from services.store.database import require_current_schema
from services.store.repository import Store
from services.store.tables import case_events, gateway_inbox, sms_outbox, sms_texts, timers

if TYPE_CHECKING:  # imported where used: `qrt status` and its tests load no client
    from kafka import KafkaConsumer, TopicPartition

from services.topics import (
    FOLLOWUP_CASES,
    FOLLOWUP_INTAKE,
    OVERDOSE_EMS,
    OVERDOSE_POLICE,
    OVERDOSE_REJECTED,
    REFERRALS,
)

OVERDUE_AFTER = timedelta(minutes=1)  # a timer still unfired this long after it was due
# consumer group (without the topic prefix) -> the topics it reads: a worker role's
# group is qrt-<role>; `qrt worker all` reads them all in its one group
GROUPS = {
    "qrt-intake": (OVERDOSE_EMS, OVERDOSE_POLICE, REFERRALS),
    "qrt-cases": (FOLLOWUP_INTAKE,),
    "qrt-sms": (FOLLOWUP_CASES,),
}
ONE_GROUP = f"qrt-{ALL_WORKERS}"
GROUPS[ONE_GROUP] = tuple(t for topics in GROUPS.values() for t in topics)


@dataclass
class StoreState:
    case_event_backlog: int = 0
    sms_outbox_backlog: int = 0
    inbox_waiting: int = 0
    texts: dict[str, int] = field(default_factory=dict)
    oldest_unsettled_s: dict[str, float] = field(default_factory=dict)  # sending, checking
    timers_overdue: int = 0
    timers_set_aside: int = 0


def read_store(store: Store, now: datetime) -> StoreState:
    state = StoreState()
    with store.engine.connect() as conn:

        def count(table: Any, *where: Any) -> int:
            return int(
                conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
            )

        state.case_event_backlog = count(case_events, case_events.c.published_at.is_(None))
        state.sms_outbox_backlog = count(sms_outbox, sms_outbox.c.published_at.is_(None))
        state.inbox_waiting = count(gateway_inbox)
        state.texts = {
            str(s): int(n)
            for s, n in conn.execute(
                select(sms_texts.c.state, func.count()).group_by(sms_texts.c.state)
            )
        }
        for kind in (TextState.SENDING, TextState.CHECKING):
            oldest = conn.execute(
                select(func.min(sms_texts.c.updated_at)).where(sms_texts.c.state == kind.value)
            ).scalar_one_or_none()
            if oldest is not None:
                state.oldest_unsettled_s[kind.value] = max(0.0, (now - oldest).total_seconds())
        state.timers_overdue = count(
            timers, timers.c.fired_at.is_(None), timers.c.due_at < now - OVERDUE_AFTER
        )
        state.timers_set_aside = count(timers, timers.c.failed_reason.is_not(None))
    return state


def store_ready(store: Store) -> str | None:
    """None when the store answers and its schema is current, else what is wrong."""
    try:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        require_current_schema(store.engine)
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    return None


@dataclass
class BrokerState:
    reachable: bool
    problem: str | None = None
    lag: dict[tuple[str, str], int] = field(default_factory=dict)  # (group, topic) -> lag
    rejected_records: int = 0


_CACHE: dict[str, tuple[float, BrokerState]] = {}
CACHE_S = 5.0  # one scrape or probe every few seconds reads the broker once


def read_broker(settings: Settings, servers: str) -> BrokerState:
    """Consumer lag per worker group and topic, and how many records were dead-lettered
    (`overdose.rejected.v1`'s end offsets); cached for CACHE_S."""
    hit = _CACHE.get(servers)
    if hit is not None and time.monotonic() - hit[0] < CACHE_S:
        return hit[1]
    try:
        state = _read_broker(settings, servers)
    except Exception as exc:  # the broker is away: say so, never fail the caller
        state = BrokerState(reachable=False, problem=f"{type(exc).__name__}: {exc}"[:200])
    _CACHE[servers] = (time.monotonic(), state)
    return state


def _read_broker(settings: Settings, servers: str) -> BrokerState:
    from kafka import KafkaAdminClient, KafkaConsumer

    hosts = servers.split(",")
    admin = KafkaAdminClient(bootstrap_servers=hosts, client_id="qrt-status",
                             request_timeout_ms=3000)  # fmt: skip
    consumer = KafkaConsumer(bootstrap_servers=hosts, group_id=None, request_timeout_ms=3000,
                             client_id="qrt-status", enable_auto_commit=False,
                             max_partition_fetch_bytes=256 * 1024)  # fmt: skip
    try:
        state = BrokerState(reachable=True)
        existing = set(admin.list_topics())
        ends = _end_offsets(consumer, [settings.topic(t) for t in _all_topics() if
                                       settings.topic(t) in existing])  # fmt: skip
        committed_by_group = {
            group: admin.list_group_offsets(settings.topic(group)).get(settings.topic(group), {})
            for group in GROUPS
        }
        for group in running_groups(settings, {g for g, c in committed_by_group.items() if c}):
            committed = committed_by_group[group]
            for topic in GROUPS[group]:
                name = settings.topic(topic)
                lag = 0
                for tp, end in ends.items():
                    if tp.topic != name:
                        continue
                    done = committed.get(tp)
                    lag += end - (done.offset if done is not None and done.offset >= 0 else 0)
                state.lag[(group, topic)] = lag
        rejected = settings.topic(OVERDOSE_REJECTED)
        state.rejected_records = sum(e for tp, e in ends.items() if tp.topic == rejected)
        return state
    finally:
        consumer.close()
        admin.close()


def running_groups(settings: Settings, committed: set[str]) -> list[str]:
    """The consumer groups of the workers as they run: the one group of `qrt worker all`
    or the roles' own, as `qrt up` recorded in the run directory; without that record
    (workers started apart, as in production), the layout whose groups have committed,
    both if both have, else the roles' own."""
    separate = [g for g in GROUPS if g != ONE_GROUP]
    recorded = recorded_workers(settings)
    if recorded:
        return [ONE_GROUP] if ALL_WORKERS in recorded else separate
    one = ONE_GROUP in committed
    return ([ONE_GROUP] if one else []) + (separate if committed - {ONE_GROUP} or not one else [])


def _all_topics() -> Iterator[str]:
    yield from {t for ts in GROUPS.values() for t in ts}
    yield OVERDOSE_REJECTED


def _end_offsets(consumer: KafkaConsumer, topics: list[str]) -> dict[TopicPartition, int]:
    """Each partition's end: the larger of what ListOffsets says and the high watermark of
    a fetch from just before it. (The embedded broker's ListOffsets counts a batch of
    records as one offset; its fetches tell the truth. Real Kafka's agree.)"""
    from kafka import TopicPartition

    partitions = [
        TopicPartition(topic, p)
        for topic in topics
        for p in sorted(consumer.partitions_for_topic(topic) or ())
    ]
    if not partitions:
        return {}
    listed = dict(consumer.end_offsets(partitions))
    consumer.assign(partitions)
    for tp in partitions:
        consumer.seek(tp, max(0, listed[tp] - 1))
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and any(consumer.highwater(tp) is None for tp in partitions):
        consumer.poll(timeout_ms=200, max_records=1)
    return {tp: max(listed[tp], consumer.highwater(tp) or 0) for tp in partitions}


class SystemCollector(Collector):
    """The API's `/metrics`: the whole system's state at each scrape."""

    def __init__(self, store: Store, settings: Settings, servers: Any, clock: Any) -> None:
        self.store, self.settings, self.servers, self.clock = store, settings, servers, clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        s = read_store(self.store, self.clock())
        yield _gauge("qrt_case_event_outbox_backlog", "Case events not yet published",
                     s.case_event_backlog)  # fmt: skip
        yield _gauge("qrt_sms_outbox_backlog", "SMS records not yet published",
                     s.sms_outbox_backlog)  # fmt: skip
        yield _gauge("qrt_gateway_inbox_waiting", "Accepted events not yet stored",
                     s.inbox_waiting)  # fmt: skip
        texts = GaugeMetricFamily("qrt_texts_by_state", "Texts by state", labels=["state"])
        for state in TextState:
            texts.add_metric([state.value], s.texts.get(state.value, 0))
        yield texts
        oldest = GaugeMetricFamily(
            "qrt_texts_oldest_unsettled_seconds",
            "Age of the oldest text in sending or checking",
            labels=["state"],
        )
        for state in (TextState.SENDING, TextState.CHECKING):
            oldest.add_metric([state.value], s.oldest_unsettled_s.get(state.value, 0.0))
        yield oldest
        yield _gauge("qrt_timers_overdue", "Timers due over a minute ago and not fired",
                     s.timers_overdue)  # fmt: skip
        yield _gauge("qrt_timers_set_aside", "Timers that could not fire", s.timers_set_aside)
        paused = GaugeMetricFamily("qrt_sms_sending_paused",
                                   "Whether the SMS worker's sending is paused, by cause",
                                   labels=["cause"])  # fmt: skip
        pause = read_sending_pause(self.settings)
        for cause in ("unauthorized", "outage", "throttled"):
            paused.add_metric([cause], int(pause is not None and pause.get("cause") == cause))
        yield paused
        servers = self.servers()
        if servers is None:
            return
        b = read_broker(self.settings, servers)
        yield _gauge("qrt_broker_up", "Whether the broker answered", int(b.reachable))
        lag = GaugeMetricFamily(
            "qrt_consumer_lag", "Records not yet consumed, per worker group and topic",
            labels=["group", "topic"],
        )  # fmt: skip
        for (group, topic), n in sorted(b.lag.items()):
            lag.add_metric([group, topic], n)
        yield lag
        yield _gauge("qrt_rejected_records", "Records dead-lettered on overdose.rejected.v1",
                     b.rejected_records)  # fmt: skip


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)

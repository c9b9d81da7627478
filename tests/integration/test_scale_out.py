"""Scale-out, measured: eight programs, two case workers in one consumer group, one store.

- Both workers take partitions of followup.intake.v1 and each stores at least 30 % of
  the events; every program's events are stored by one worker only (one writer per
  program); the store holds every event once and one case per incident.
- SIGKILL one of them: the other takes over its partitions and stores the new events of
  the dead one's programs within 20 s of the kill (bound by Faust's session timeout,
  10 s, and heartbeat, 2 s, in workers/app.py, and the broker's join of the group);
  nothing lost or duplicated.

Who stored what is read from each worker's own counters (`qrt_case_worker_events`, served
on its metrics port), not inferred: the programs are published one at a time and the
counter that moved names the program's writer."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from schemas.cases import CaseEvent
from schemas.codec import decode
from services.crypto.keys import new_key_text
from services.settings import Settings
from services.simulation.synthetic import synthetic_events
from services.store.database import make_engine, migrate
from services.store.repository import Store
from services.store.tables import events
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

pytestmark = pytest.mark.broker

PARTITIONS = 8
# Program id -> county FIPS (West Virginia counties). The intake worker keys each record
# by program id and Kafka's default partitioner (murmur2) places the key: these eight ids
# fall on the eight partitions 0..7, one each, so any balanced split of the partitions
# (4 and 4, Faust's assignor) gives each worker four programs. program-1..program-8 would
# not do: they fall on six partitions (two pairs share one), and a worker given the two
# empty partitions and two single ones would write for 2 of the 8 programs (25 %). The test
# checks where the records really went (reading followup.intake.v1), not the hash.
PROGRAMS = {
    "mingo": "54059",
    "kanawha": "54039",
    "cabell": "54011",
    "raleigh": "54081",
    "lincoln": "54043",
    "wayne": "54099",
    "boone": "54005",
    "harrison": "54033",
}
PER_PROGRAM = 40  # first phase: 320 events, published one program at a time
AFTER_KILL = 15  # second phase: 120 more, every program at once
TAKEOVER_S = 20


def programs_toml() -> str:
    return "".join(
        f'[[program]]\nid = "{p}"\nname = "{p.title()} County QRT"\n'
        f'timezone = "America/New_York"\ncounty_fips = ["{fips}"]\n'
        f'agency_ids = ["{p.upper()}-EMS", "{p.upper()}-PD"]\n\n'
        for p, fips in PROGRAMS.items()
    )


def program_events(now: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Synthetic events (10,000 at most); the caller says which program each is for."""
    for event in synthetic_events(10_000, now, seed=19):
        yield event["source"], event


def for_program(program: str, source: str, event: dict[str, Any]) -> dict[str, Any]:
    agency = f"{program.upper()}-{'PD' if source == 'police' else 'EMS'}"
    location = dict(event["location"], county_fips=PROGRAMS[program])
    return dict(event, agency_id=agency, location=location)


class CaseWorkers:
    """Two `qrt worker cases` in one group: own data dirs (run files, logs, Faust's data
    dir), the same broker, database, keys, programs file and settings."""

    def __init__(self, env: dict[str, str], root: Path) -> None:
        self.workers: list[Worker] = []
        for name in ("a", "b"):
            data = root / name
            data.mkdir()
            self.workers.append(Worker("cases", dict(env, QRT_DATA_DIR=str(data)), data))

    def data(self, i: int) -> Path:
        return Path(self.workers[i].env["QRT_DATA_DIR"])

    def partitions(self, i: int) -> int:
        """How many partitions the worker holds now (it writes them at each assignment)."""
        ready = self.data(i) / "run" / "cases.ready"
        return int(ready.read_text().split()[0]) if ready.exists() else -1

    def handled(self, i: int) -> float:
        """Events this worker stored (every handling: opened, linked, fatal, ...)."""
        url = (self.data(i) / "run" / "cases.metrics").read_text().strip()
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (loopback)
            text = answer.read().decode()
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "qrt_case_worker_events_total"
        )

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


def stored_for(store: Store, programs: list[str]) -> int:
    query = select(func.count()).select_from(events).where(events.c.program_id.in_(programs))
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def partitions_by_program(servers: str, settings: Settings, count: int) -> dict[str, set[int]]:
    """Where the intake worker placed each program's records on followup.intake.v1."""
    found: dict[str, set[int]] = {}
    for message in read_topic(servers, settings.topic("followup.intake.v1"), count):
        found.setdefault(message.key.decode(), set()).add(message.partition)
    return found


def publish(send: Any, settings: Settings, batch: list[dict[str, Any]]) -> None:
    for event in batch:
        topic = settings.topic(f"overdose.{event['source']}.v1")
        send.send(topic, key=event["event_id"].encode(), value=json.dumps(event).encode())
    send.flush()


def first_phase(
    pool: CaseWorkers, send: Any, settings: Settings, source: Iterator[Any]
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Each program in turn: its events, then whose counter moved. -> owner, events."""
    owner: dict[str, int] = {}
    sent: list[dict[str, Any]] = []
    for program in PROGRAMS:
        before = [pool.handled(0), pool.handled(1)]
        batch = [for_program(program, *next(source)) for _ in range(PER_PROGRAM)]
        publish(send, settings, batch)
        sent += batch

        def moved(before: list[float] = before) -> list[float] | None:
            now = [pool.handled(0) - before[0], pool.handled(1) - before[1]]
            return now if sum(now) >= PER_PROGRAM else None

        delta = wait_for(moved, 60, f"{program}'s {PER_PROGRAM} events stored", every_s=0.02)
        assert sorted(delta) == [0, PER_PROGRAM], f"{program}: one writer per program {delta}"
        owner[program] = delta.index(PER_PROGRAM)
    return owner, sent


def announced_all(store: Store, broker: str, settings: Settings, case_ids: set[str]) -> None:
    wait_for(lambda: not unpublished_case_events(store), 30, "the outbox to drain")
    published = read_topic(broker, settings.topic("followup.cases.v1"), len(case_ids))
    announced = [decode(CaseEvent, m.value).case_id for m in published]
    print(f"{len(case_ids)} cases; {len(announced)} case events, {len(set(announced))} distinct")
    assert set(announced) == case_ids, "every case announced on followup.cases.v1"


def assert_store_whole(store: Store, sent: list[dict[str, Any]]) -> set[str]:
    assert count_events(store) == len(sent), "every event stored exactly once"
    per_event = cases_per_event(store)
    assert len(per_event) == sum(1 for e in sent if not e["fatal"]), "each non-fatal: a case"
    assert all(len(ids) == 1 for ids in per_event.values()), "...exactly one"
    case_ids = {ids[0] for ids in per_event.values()}
    assert count_cases(store) == len(case_ids), "no case without its events"
    assert count_events_handled(store, "case_opened") == len(case_ids), "none opened twice"
    return case_ids


def worker_env(tmp_path: Path, broker: str, prefix: str, database_url: str) -> dict[str, str]:
    """The same settings for every worker; each case worker gets its own data dir."""
    (tmp_path / "programs.toml").write_text(programs_toml())
    (tmp_path / "intake").mkdir()
    env = stack_env(tmp_path / "intake", broker, prefix, database_url)
    env.update(
        QRT_TOPIC_PARTITIONS=str(PARTITIONS),
        QRT_PROGRAMS_FILE=str(tmp_path / "programs.toml"),
        QRT_METRICS_PORT="0",
        QRT_DATA_KEYS=new_key_text("scale1"),  # one key ring for all: one store
        QRT_INDEX_KEY=base64.b64encode(b"s" * 32).decode(),
    )
    return env


def take_over(
    pool: CaseWorkers, store: Store, send: Any, settings: Settings, late: list[dict[str, Any]],
    theirs: list[str], dead: int,
) -> float:  # fmt: skip
    """SIGKILL worker `dead`, publish `late`: seconds from the kill until the survivor
    stored an event of one of `theirs` (the dead one's programs)."""
    before = stored_for(store, theirs)
    killed_at = time.monotonic()
    pool.workers[dead].kill()
    publish(send, settings, late)
    wait_for(lambda: stored_for(store, theirs) > before, 60, "an event of the dead one's")
    takeover = time.monotonic() - killed_at
    wanted = before + sum(1 for e in late if e["agency_id"].split("-")[0].lower() in theirs)
    wait_for(lambda: stored_for(store, theirs) >= wanted, 60, "all of the dead one's stored")
    everything = time.monotonic() - killed_at
    print(f"{theirs} taken over: first stored {takeover:.1f} s, all {everything:.1f} s")
    return takeover


def test_two_case_workers_share_eight_programs_and_one_takes_over_from_the_other(
    broker: str, topic_prefix: str, tmp_path: Path, database_url: str
) -> None:
    settings = Settings(topic_prefix=topic_prefix, topic_partitions=PARTITIONS)
    ensure_topics(settings, broker)
    engine = make_engine(database_url)
    migrate(engine)
    store = Store(engine)
    env = worker_env(tmp_path, broker, topic_prefix, database_url)
    intake = Worker("intake", env, tmp_path / "intake")
    pool = CaseWorkers(env, tmp_path)
    send = producer(broker)
    try:
        with ThreadPoolExecutor(3) as starting:  # all at once: each start takes seconds
            for started in [starting.submit(w.start) for w in (intake, *pool.workers)]:
                started.result()
        # Each holds half of followup.intake.v1 and of overdose.rejected.v1 (Faust assigns
        # co-subscribed topics' partitions together), one of them Faust's own one-partition
        # topic as well.
        whole = 2 * PARTITIONS + 1
        wait_for(
            lambda: min(pool.partitions(0), pool.partitions(1)) >= PARTITIONS
            and pool.partitions(0) + pool.partitions(1) == whole, 30,
            f"both workers holding half of the {whole} partitions",
        )  # fmt: skip
        source = program_events(wall_clock.now())
        owner, sent = first_phase(pool, send, settings, source)
        stored_by = [pool.handled(i) for i in (0, 1)]
        print(f"\nstored of {len(sent)} events: a {stored_by[0]:g}, b {stored_by[1]:g}")
        assert sum(stored_by) == len(sent), stored_by
        assert min(stored_by) >= 0.3 * len(sent), f"each at least 30 %: {stored_by}"
        on = partitions_by_program(broker, settings, len(sent))
        assert all(len(parts) == 1 for parts in on.values()), on
        assert len(set().union(*on.values())) == PARTITIONS, f"one program a partition: {on}"

        dead, survivor = 1, 0
        handled_before = pool.handled(survivor)
        late = [for_program(p, *next(source)) for _ in range(AFTER_KILL) for p in PROGRAMS]
        theirs = [p for p, i in owner.items() if i == dead]
        takeover = take_over(pool, store, send, settings, late, theirs, dead)
        assert takeover <= TAKEOVER_S, f"the survivor took {takeover:.1f} s to take over"
        sent += late
        wait_for(lambda: count_events(store) >= len(sent), 60, f"all {len(sent)} stored")
        wait_for(lambda: pool.partitions(survivor) == whole, 10, "the survivor holding all")
        wait_for(  # counted just after each batch's commit
            lambda: pool.handled(survivor) - handled_before >= len(late), 10,
            f"the survivor's counter to show the {len(late)} events after the kill",
        )  # fmt: skip
        announced_all(store, broker, settings, assert_store_whole(store, sent))
    finally:
        send.close()
        pool.stop()
        intake.stop()
        store.dispose()

"""Durable timers: concurrent sweepers never double-fire; a killed timer worker, restarted,
leaves plans and timers as they were."""

from __future__ import annotations

import os
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from services.cases.replanning import plan_program
from services.cases.timers import sweep_timers
from services.crypto.fields import FieldCipher
from services.store.database import make_engine, migrate
from services.store.repository import Store
from services.store.tables import case_events, cases, timers
from tests import wall_clock
from tests.integration.engine_support import T0, Scenario, overdose
from tests.support import Worker, stack_env, wait_for

TIMER_KINDS = {"window_opened", "at_risk", "missed"}


def _timer_events(store: Store) -> Counter[tuple[str, str]]:
    with store.engine.connect() as conn:
        return Counter(
            (r.case_id, r.kind)
            for r in conn.execute(
                select(case_events.c.case_id, case_events.c.kind).where(
                    case_events.c.kind.in_(TIMER_KINDS)
                )
            )
        )


def test_concurrent_sweepers_fire_each_timer_once(store: Store, cipher: FieldCipher) -> None:
    scene = Scenario(store, cipher)
    scene.report(*(overdose(at=T0 + timedelta(minutes=i)) for i in range(120)))
    later = T0 + timedelta(days=4)  # every timer of every case is due
    errors: list[BaseException] = []

    def sweeper() -> None:
        try:
            while sweep_timers(store, later, limit=7):
                pass
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=sweeper) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    fired = _timer_events(store)
    assert len(fired) == 120 * 3, "every timer fired"
    assert set(fired.values()) == {1}, "none fired twice"
    with store.engine.connect() as conn:
        assert conn.execute(select(timers).where(timers.c.fired_at.is_(None))).all() == []


def _state(store: Store) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with store.engine.connect() as conn:
        plans = [
            tuple(r)
            for r in conn.execute(
                select(
                    cases.c.id, cases.c.planned_team_id, cases.c.planned_shift_start,
                    cases.c.at_risk_reason, cases.c.missed_at,
                ).order_by(cases.c.id)
            )
        ]  # fmt: skip
        fired = [
            tuple(r)
            for r in conn.execute(
                select(timers.c.case_id, timers.c.kind, timers.c.fired_at).order_by(timers.c.id)
            )
        ]
    return plans, fired


@pytest.mark.time_of_day
def test_timer_worker_killed_and_restarted_keeps_plans_and_timers(
    tmp_path: Path, cipher: FieldCipher
) -> None:
    url = f"sqlite:///{tmp_path / 'qrt.sqlite3'}"
    engine = make_engine(url)
    migrate(engine)
    store = Store(engine)
    # Real time: cases of the last hours, so some windows are open and shifts lie ahead.

    now = wall_clock.now()
    scene = Scenario(store, cipher, now=now)
    scene.report(*(overdose(at=now - timedelta(hours=h)) for h in (1, 13, 14, 30, 80)))
    env = stack_env(tmp_path, "127.0.0.1:1", "", url)
    env["QRT_SWEEP_SECONDS"] = "0.2"
    programs_file = tmp_path / "programs.toml"
    from tests.integration.engine_support import PROGRAM_TOML

    programs_file.write_text(PROGRAM_TOML)
    env["QRT_PROGRAMS_FILE"] = str(programs_file)
    env.pop("QRT_DATA_KEYS", None)
    worker = Worker("timers", env, tmp_path).start()
    try:
        wait_for(lambda: _timer_events(store), 30, "the first timers to fire")
        wait_for(lambda: all(r[1] or r[3] or r[4] for r in _state(store)[0]), 30, "plans")
        before = _state(store)
        events_before = _timer_events(store)
        os.kill(worker.proc.pid, 9)  # type: ignore[union-attr]
        worker.proc.wait(10)  # type: ignore[union-attr]
        # `start` returns once the restarted worker has planned and swept (it does both
        # before it reports ready).
        worker.start()
        after = _state(store)
        assert after[1] == before[1], "every timer as it was: fired ones at the same time"
        assert _timer_events(store) == events_before, "nothing fired twice after the restart"
        assert after[0] == before[0], "plans as they were"
        assert plan_program(store, scene.programs.programs[0], wall_clock.now()) == 0
    finally:
        worker.stop()
        store.dispose()

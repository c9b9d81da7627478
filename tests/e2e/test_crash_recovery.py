"""The embedded default keeps its promise: a 202 from the gateway survives a crash of the
whole `qrt up` stack (SIGKILL of every process, the in-memory broker with them); the one
worker process of the default (`qrt worker all`) does the work of every role and comes
back after a kill; and a worker that keeps crashing (the one, or one of the separate
ones of `--separate-workers`) is backed off while the rest of the stack runs on."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.store.database import make_engine
from services.store.repository import Store
from services.store.tables import cases, program_state, sms_texts
from tests import wall_clock
from tests.benchmarks.process_cpu import tree
from tests.support import ROOT, wait_for
from tests.support_store import count_cases

EVENTS = 40


def up(data_dir: Path, log: Path, *args: str, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP_SERVERS",
                                                              "DATABASE_URL"}}  # fmt: skip
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--api-port", "0",
             "--data-dir", str(data_dir), *args],
            env={**clean, **env, "PYTHONUNBUFFERED": "1"}, cwd=ROOT, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def api() -> str | None:
        found = re.findall(r"API: (http://\S+)", log.read_text(errors="replace"))
        if not found and proc.poll() is not None:
            raise AssertionError(f"qrt up exited {proc.returncode}:\n{log.read_text()}")
        return found[-1] if found and proc.poll() is None else None

    before = len(re.findall(r"API: ", log.read_text(errors="replace")))
    url = wait_for(
        lambda: (len(re.findall(r"API: ", log.read_text(errors="replace"))) > before) and api(),
        120,
        "qrt up",
        every_s=0.2,
    )
    return proc, str(url)


def qrt(data_dir: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP_SERVERS",
                                                            "DATABASE_URL"}}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env={**env, "QRT_DATA_DIR": str(data_dir)},
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def post(api: str, key: str, events: list[dict[str, object]]) -> int:
    request = urllib.request.Request(  # noqa: S310 (loopback URL)
        api + "/api/v1/events", data=json.dumps(events).encode(), method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        return int(answer.status)


def event(n: int) -> dict[str, object]:
    return {
        "event_id": f"crash-{n}", "source": "ems", "agency_id": "EX-EMS-01",
        "occurred_at": (wall_clock.now() - timedelta(hours=1)).isoformat(),
        "location": {"county_fips": "54011"},
        "patient": {"first_name": f"Crash{chr(65 + n % 26)}{chr(65 + n // 26)}",
                    "last_name": "Recoverton", "dob": "1985-01-01"},
    }  # fmt: skip


@pytest.mark.broker
def test_every_accepted_event_becomes_a_case_after_the_stack_is_killed(tmp_path: Path) -> None:
    log = tmp_path / "qrt-up.log"
    proc, api = up(tmp_path, log)
    key = qrt(tmp_path, "agency", "create", "EX-EMS-01").strip().splitlines()[-1]
    processes = tree(proc.pid)
    (workers,) = [pid for pid, role in processes.items() if role == "worker all"]
    os.kill(workers, signal.SIGSTOP)  # nothing is stored before the crash
    assert post(api, key, [event(n) for n in range(EVENTS)]) == 202
    for pid in processes:  # the whole stack dies at once, the in-memory broker with it
        os.kill(pid, signal.SIGKILL)
    proc.wait(10)
    store = Store(make_engine(f"sqlite:///{tmp_path / 'qrt.sqlite3'}"))
    try:
        assert count_cases(store, "example") == 0, "nothing was stored before the crash"
        again, _ = up(tmp_path, log)
        try:
            wait_for(lambda: count_cases(store, "example") == EVENTS, 60, "every accepted event")
        finally:
            again.send_signal(signal.SIGINT)
            again.wait(30)
    finally:
        store.dispose()


@pytest.mark.broker
@pytest.mark.parametrize(
    ("args", "child", "process"),
    [((), "workers", "worker all"), (("--separate-workers",), "sms", "worker sms")],
    ids=["one-worker", "separate-workers"],
)
def test_a_worker_that_keeps_failing_is_backed_off_and_the_api_stays_up(
    tmp_path: Path, args: tuple[str, ...], child: str, process: str
) -> None:
    log = tmp_path / "qrt-up.log"
    proc, api = up(tmp_path, log, *args)
    try:
        others = {p: r for p, r in workers_of(proc.pid).items() if r != process}
        killed: set[int] = set()
        for _ in range(6):  # the worker dies again and again, as soon as it is back

            def next_worker() -> int | None:
                found = [p for p, r in tree(proc.pid).items() if r == process]
                return next((p for p in found if p not in killed), None)

            pid = wait_for(next_worker, 30, f"{process} restarted")
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        wait_for(lambda: f"{child} keeps failing" in log.read_text(), 30, "the backoff is reported")
        assert proc.poll() is None, "the stack runs on"
        with urllib.request.urlopen(api + "/healthz", timeout=5) as answer:  # noqa: S310
            assert answer.status == 200
        wait_for(lambda: any(r == process for r in tree(proc.pid).values()), 30, f"{child} again")
        # the other roles (of --separate-workers) ran on in their own processes throughout
        ran_on = ["worker cases", "worker intake", "worker spikes", "worker timers"]
        assert sorted(others.values()) == (ran_on if args else [])
        assert {p: r for p, r in tree(proc.pid).items() if p in others} == others
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def planned_at(store: Store) -> datetime | None:
    with store.engine.connect() as conn:
        return conn.execute(
            select(program_state.c.planned_at).where(program_state.c.program_id == "example")
        ).scalar_one_or_none()


def planned_cases(store: Store) -> int:
    """Cases the planner has placed in a shift or found at risk."""
    placed = cases.c.planned_team_id.is_not(None) | cases.c.at_risk_reason.is_not(None)
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(placed)).scalar_one())


def texts(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(sms_texts)).scalar_one())


def workers_of(root: int) -> dict[int, str]:
    return {p: r for p, r in tree(root).items() if r.startswith("worker ")}


@pytest.mark.broker
def test_the_one_worker_process_does_every_role_and_is_restarted_after_a_kill(
    tmp_path: Path,
) -> None:
    log = tmp_path / "qrt-up.log"
    proc, api = up(tmp_path, log)
    store = Store(make_engine(f"sqlite:///{tmp_path / 'qrt.sqlite3'}"))
    try:
        ((first, role),) = workers_of(proc.pid).items()
        assert role == "worker all", "one worker process by default, not one per role"
        status = json.loads(qrt(tmp_path, "status", "--json"))
        assert list(status["processes"]) == ["all"] and status["processes"]["all"]["ready"]
        assert {name.split()[0] for name in status["lag"]} == {"qrt-all"}
        started = wait_for(lambda: planned_at(store), 30, "the timers' first plan at start")
        key = qrt(tmp_path, "agency", "create", "EX-EMS-01").strip().splitlines()[-1]
        texted = {**event(0), "consent": {"sms": True}}
        texted["patient"] = {**texted["patient"], "phone": "+13045550142"}  # type: ignore[dict-item]
        assert post(api, key, [texted]) == 202
        wait_for(lambda: count_cases(store, "example") == 1, 30, "the case (intake, cases)")
        wait_for(lambda: planned_cases(store) == 1, 30, "the case planned (timers)")
        assert (planned_at(store) or started) > started
        wait_for(lambda: texts(store) > 0, 30, "its texts queued (sms)")

        os.kill(first, signal.SIGKILL)
        wait_for(lambda: "workers exited with -9; restarting it" in log.read_text(), 10, "said")
        wait_for(
            lambda: (
                list(workers_of(proc.pid).values()) == ["worker all"]
                and first not in workers_of(proc.pid)
            ),
            30,
            "the one worker restarted",
        )
        assert post(api, key, [event(1)]) == 202
        wait_for(lambda: count_cases(store, "example") == 2, 60, "a case by the new worker")
        wait_for(lambda: planned_cases(store) == 2, 30, "planned by the new worker")
        assert proc.poll() is None
    finally:
        store.dispose()
        proc.send_signal(signal.SIGINT)
        proc.wait(30)

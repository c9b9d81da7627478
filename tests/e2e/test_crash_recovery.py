"""The embedded default keeps its promise: a 202 from the gateway survives a crash of the
whole `qrt up` stack (SIGKILL of every process, the in-memory broker with them), and a
worker that keeps crashing is backed off while the rest of the stack runs on."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from services.store.database import make_engine
from services.store.repository import Store
from tests import wall_clock
from tests.benchmarks.process_cpu import tree
from tests.support import ROOT, wait_for
from tests.support_store import count_cases

EVENTS = 40


def up(data_dir: Path, log: Path, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP_SERVERS",
                                                              "DATABASE_URL"}}  # fmt: skip
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--api-port", "0",
             "--data-dir", str(data_dir)],
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
    (case_worker,) = [pid for pid, role in processes.items() if role == "worker cases"]
    os.kill(case_worker, signal.SIGSTOP)  # nothing is stored before the crash
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
def test_a_worker_that_keeps_failing_is_backed_off_and_the_api_stays_up(tmp_path: Path) -> None:
    log = tmp_path / "qrt-up.log"
    proc, api = up(tmp_path, log)
    try:
        killed: set[int] = set()
        for _ in range(6):  # the SMS worker dies again and again, as soon as it is back

            def next_sms() -> int | None:
                found = [p for p, r in tree(proc.pid).items() if r == "worker sms"]
                return next((p for p in found if p not in killed), None)

            pid = wait_for(next_sms, 30, "the SMS worker restarted")
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        wait_for(lambda: "sms keeps failing" in log.read_text(), 30, "the backoff is reported")
        assert proc.poll() is None, "the stack runs on"
        with urllib.request.urlopen(api + "/healthz", timeout=5) as answer:  # noqa: S310
            assert answer.status == 200
        wait_for(lambda: any(r == "worker sms" for r in tree(proc.pid).values()), 30, "sms again")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)

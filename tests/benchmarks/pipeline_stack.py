"""One `qrt up` for a benchmark (fresh data directory, embedded broker, SQLite) and the
synthetic events sent to it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.runtime.children import die_with_parent
from services.simulation.synthetic import synthetic_events
from services.topics import SOURCE_TOPICS

ROOT = Path(__file__).resolve().parents[2]


class BenchFailure(RuntimeError):
    """Lost or duplicated data, or a stack that would not run: exit non-zero."""


def say(text: str) -> None:
    print(text, flush=True)


def gen_events(count: int, seed: int) -> list[dict[str, Any]]:
    return list(synthetic_events(count, datetime.now(UTC), seed))


def encoded(event: dict[str, Any]) -> tuple[str, bytes, bytes]:
    """(topic, key, value) as a publisher sends the event."""
    topic = SOURCE_TOPICS[event["source"]]
    return topic, event["event_id"].encode(), json.dumps(event).encode()


class Stack:
    """One `qrt up` in a fresh temporary data directory; stopped with SIGINT."""

    def __init__(self, name: str, up_args: tuple[str, ...] = ()) -> None:
        self.name = name
        self.up_args = up_args
        self.dir = Path(tempfile.gettempdir()) / "qrt-bench-unstarted"
        self.proc: subprocess.Popen[str] | None = None
        self.api = ""
        self._up = threading.Event()

    @property
    def pid(self) -> int:
        """The `qrt up` process (the supervisor), root of the stack's process tree."""
        assert self.proc is not None
        return self.proc.pid

    @property
    def servers(self) -> str:
        return (self.dir / "run" / "broker").read_text().strip()

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.dir / 'qrt.sqlite3'}"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with open(self.dir / "up.log", "a") as log:
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                found = re.search(r"QRT stack is up\. API: (\S+)", line)
                if found:
                    self.api = found.group(1)
                    self._up.set()

    def __enter__(self, timeout_s: float = 120.0) -> Stack:
        self.dir = Path(tempfile.mkdtemp(prefix=f"qrt-bench-{self.name}-"))
        drop = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")  # always the embedded broker, SQLite
        env = {k: v for k, v in os.environ.items() if not k.startswith("QRT_") and k not in drop}
        # the load is the point here: one client far above a publisher's rate limit
        env["QRT_GATEWAY_RATE_PER_MINUTE"] = "10000000"
        argv = [sys.executable, "-m", "services.cli", "up", "--api-port", "0"]
        self.proc = subprocess.Popen(
            [*argv, "--data-dir", str(self.dir), *self.up_args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=die_with_parent,  # SIGTERM to `qrt up` (a clean stop) if we are killed
        )
        threading.Thread(target=self._drain, daemon=True).start()
        started = time.monotonic()
        try:
            while not self._up.wait(0.2):
                if self.proc.poll() is not None or time.monotonic() - started > timeout_s:
                    raise BenchFailure(f"`qrt up` did not come up; see {self.dir / 'up.log'}")
        except BaseException:
            self.stop()
            raise
        say(f"  stack up in {time.monotonic() - started:.1f} s: API {self.api}, dir {self.dir}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(40)
        except subprocess.TimeoutExpired:
            say("  `qrt up` did not stop in 40 s; killing it")
            self.proc.kill()
            self.proc.wait()

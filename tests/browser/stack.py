"""The whole stack (`qrt up`: embedded broker, workers, API; SQLite in a temp dir) for the
browser tests, and the ways a user and a publisher reach it: the CLI and the gateway."""

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
from typing import Any

from tests import wall_clock
from tests.support import ROOT, wait_for

PROGRAM = "example"
AGENCY = "EX-EMS-01"  # routed to the example program (services/example_programs.toml)


class RunningStack:
    def __init__(self, proc: subprocess.Popen[bytes], data_dir: Path, api: str) -> None:
        self.proc, self.data_dir, self.api = proc, data_dir, api
        self.agency_key = ""

    @classmethod
    def start(cls, data_dir: Path) -> RunningStack:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "QRT_DATA_DIR"}
        }
        env["PYTHONUNBUFFERED"] = "1"
        log = data_dir / "qrt-up.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "up", "--api-port", "0",
                 "--data-dir", str(data_dir)],
                env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

        def ready() -> str | None:
            found = re.search(r"API: (http://\S+)", log.read_text(errors="replace"))
            if found is None and proc.poll() is not None:
                raise AssertionError(f"qrt up exited {proc.returncode}:\n{log.read_text()}")
            return found.group(1) if found else None

        try:
            api: str = wait_for(ready, 120, "qrt up to say its API address", every_s=0.2)
        except AssertionError as exc:
            cls(proc, data_dir, "").stop()
            raise AssertionError(f"{exc}\n{log.read_text(errors='replace')}") from exc
        return cls(proc, data_dir, api)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log_tail(self, lines: int = 60) -> str:
        """The end of what `qrt up` and its workers printed: for a test's failure message."""
        said = (self.data_dir / "qrt-up.log").read_text(errors="replace").splitlines()
        return "\n".join(said[-lines:])

    def qrt(self, *args: str, stdin: str | None = None) -> str:
        """A `qrt` command on the stack's data dir; its standard output, or a failure."""
        env = dict(os.environ, QRT_DATA_DIR=str(self.data_dir))
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        env.pop("DATABASE_URL", None)
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env=env, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, f"qrt {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def create_coordinator(self, username: str, password: str) -> None:
        said = self.qrt(
            "user", "create", username, "--role", "coordinator", "--program", PROGRAM,
            "--password-stdin", stdin=password + "\n",
        )  # fmt: skip
        assert f"user {username} created" in said

    def publish(self, event: dict[str, Any], key: str | None = None) -> None:
        """One event through the HTTP ingest gateway (with the stack's agency key, or
        `key`); 202 means the broker has it."""
        request = urllib.request.Request(  # noqa: S310 (loopback URL)
            self.api + "/api/v1/events",
            data=json.dumps(event).encode(),
            headers={
                "Authorization": f"Bearer {key or self.agency_key}",
                "Content-Type": "application/json",
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            assert answer.status == 202
            assert json.load(answer) == {"event_id": event["event_id"], "duplicate": False}


def overdose(event_id: str, person: dict[str, str], hours_ago: float) -> dict[str, Any]:
    """An EMS report of a non-fatal overdose of `person` in the example program's county."""
    return {
        "event_id": event_id,
        "source": "ems",
        "agency_id": AGENCY,
        "incident_number": f"I-{event_id}",
        "occurred_at": (wall_clock.now() - timedelta(hours=hours_ago)).isoformat(),
        "location": {"city": "Huntington", "state": "WV", "county_fips": "54011"},
        "patient": person,
        "naloxone": {"administered": True, "doses": 1, "given_by": "EMS"},
        "consent": {"visit": True, "sms": False},
    }

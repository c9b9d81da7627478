"""The running stack through its public interfaces, as a new user would use it.

`qrt up` on embedded defaults; `qrt publish` of the README's example file (one
EMS event, one police event, a repeat of the first, one malformed line) gives
exactly 2 cases in the queue API within 5 s and one rejection with a reason;
Ctrl-C stops everything.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient

from schemas.codec import decode
from schemas.intake import RejectedEvent, RejectReason
from tests import wall_clock
from tests.support import ROOT, cli_bearer, read_topic, wait_for

EXAMPLE = ROOT / "docs" / "examples" / "first-events.jsonl"


def committed(servers: str, group: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=servers)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
        return sum(o.offset for tp, o in offsets.items() if tp.topic == "followup.intake.v1")
    finally:
        admin.close()


class Stack:
    def __init__(
        self, proc: subprocess.Popen[str], data_dir: Path, api: str, said: list[str]
    ) -> None:
        self.proc, self.data_dir, self.api, self.said = proc, data_dir, api, said
        self.broker = (data_dir / "run" / "broker").read_text().strip()
        self.auth: dict[str, str] = {}

    def qrt(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, QRT_DATA_DIR=str(self.data_dir))
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def get(self, path: str) -> Any:
        request = urllib.request.Request(self.api + path, headers=self.auth)  # noqa: S310
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return json.load(response)

    def queue(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get("/api/v1/programs/example/queue")["items"]
        return items


def _running(data_dir: Path) -> Iterator[Stack]:
    env = {
        k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"}
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--api-port", "0",
         "--data-dir", str(data_dir)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    api = None
    deadline = time.monotonic() + 120
    while api is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"API: (http://\S+)", line)
        api = found.group(1) if found else None
    assert api, "qrt up never said it was ready:\n" + "".join(lines)
    running = Stack(proc, data_dir, api, lines)
    running.auth = cli_bearer(data_dir)
    yield running
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack for the tests that leave it running and whose events are their own."""
    yield from _running(tmp_path_factory.mktemp("stack"))


@pytest.fixture
def fresh_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack of its own: for a test that stops it, or counts everything in its queue."""
    yield from _running(tmp_path)


def recent_copy(example: Path, into: Path) -> Path:
    """The example file with its times moved (intervals kept) so its last overdose was 2 h
    before the session's clock: the file is dated, the test must pass on any day. Lines
    that are not JSON (the malformed one) are copied as they are."""
    lines = example.read_text().splitlines()
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            parsed.append(None)
    times = [datetime.fromisoformat(e["occurred_at"]) for e in parsed if e]
    shift = wall_clock.now() - timedelta(hours=2) - max(times)
    out = []
    for line, event in zip(lines, parsed, strict=True):
        if event is None:
            out.append(line)
            continue
        at = datetime.fromisoformat(event["occurred_at"]) + shift
        out.append(json.dumps({**event, "occurred_at": at.isoformat()}))
    copy = into / example.name
    copy.write_text("\n".join(out) + "\n")
    return copy


def test_publish_gives_two_cases_within_5_s_and_one_rejection(stack: Stack, tmp_path: Path) -> None:
    example = recent_copy(EXAMPLE, tmp_path)
    started = time.monotonic()
    published = stack.qrt("publish", "--unscreened", str(example))  # line 4 to dead letters
    assert published.returncode == 0, published.stderr
    assert "published 4 event(s); 0 refused; 0 failed" in published.stdout
    assert "line 4: warning" in published.stderr

    queue = wait_for(
        lambda: len(got := stack.queue()) >= 2 and got,
        5 - (time.monotonic() - started),
        "2 cases in the queue API",
    )
    assert len(queue) == 2
    assert {(c["events"][0]["source"], c["events"][0]["event_id"]) for c in queue} == {
        ("ems", "ems-2026-000101"),
        ("police", "pd-77-5531"),
    }
    assert all(c["tier"] == "new" and c["status"] == "open" for c in queue)

    rejected = read_topic(stack.broker, "overdose.rejected.v1", 1)
    assert len(rejected) == 1
    record = decode(RejectedEvent, rejected[0].value)
    assert record.reason is RejectReason.MALFORMED_JSON and "JSON" in record.detail
    assert record.original() == example.read_bytes().splitlines()[3].strip()

    # The repeat reached the case agent (3 routed records) and the workers' one group
    # (`qrt worker all`, the default of `qrt up`) has committed past all of them: it
    # yielded nothing new.
    assert len(read_topic(stack.broker, "followup.intake.v1", 3)) == 3
    wait_for(lambda: committed(stack.broker, "qrt-all") == 3, 15, "case agent commits")
    assert len(stack.queue()) == 2

    cli_queue = stack.qrt("queue", "--program", "example", "--json")
    assert cli_queue.returncode == 0, cli_queue.stderr
    assert {c["case_id"] for c in json.loads(cli_queue.stdout)} == {c["case_id"] for c in queue}


def test_ctrl_c_stops_everything(fresh_stack: Stack) -> None:
    stack = fresh_stack
    port = int(stack.broker.rsplit(":", 1)[1])
    stack.proc.send_signal(signal.SIGINT)
    assert stack.proc.wait(30) == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(OSError):
        urllib.request.urlopen(stack.api + "/healthz", timeout=1)  # noqa: S310
    assert not (stack.data_dir / "run" / "broker").exists()


def test_a_second_stack_on_the_same_data_dir_or_port_is_refused(stack: Stack) -> None:
    port = stack.api.rsplit(":", 1)[1]
    same_dir = stack.qrt("up", "--api-port", "0")
    assert same_dir.returncode == 1
    assert "another `qrt up` is running" in same_dir.stdout
    assert (stack.data_dir / "run" / "broker").exists(), "the running stack is untouched"
    other_dir = subprocess.run(
        [sys.executable, "-m", "services.cli", "up", "--api-port", port,
         "--data-dir", str(stack.data_dir / "second")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert other_dir.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in other_dir.stdout
    assert stack.get("/healthz") == {"status": "ok"}


def _event(event_id: str, source: str, agency: str, minutes_ago: int, **extra: Any) -> str:
    at = wall_clock.now() - timedelta(minutes=minutes_ago)
    return json.dumps(
        {
            "event_id": event_id, "source": source, "agency_id": agency,
            "occurred_at": at.isoformat(), "location": {"county_fips": "54011"}, **extra,
        }
    )  # fmt: skip


def test_double_report_one_case_and_history_sets_the_next_tier(
    fresh_stack: Stack, tmp_path: Path
) -> None:
    stack = fresh_stack
    person = {"first_name": "Rowan", "last_name": "Exampleton", "dob": "1988-08-08"}
    lines = tmp_path / "double.jsonl"
    lines.write_text(
        _event("e-1", "ems", "EX-EMS-01", 200, patient=person) + "\n"
        + _event("p-1", "police", "EX-PD-01", 190, patient={**person, "first_name": "ROWAN"})
        + "\n"
    )  # fmt: skip
    assert stack.qrt("publish", str(lines)).returncode == 0
    queue = wait_for(
        lambda: (q := stack.queue()) and len(q[0]["events"]) == 2 and q,
        20,
        "one case with both reports",
    )
    assert len(queue) == 1 and queue[0]["tier"] == "new"
    case_id = queue[0]["case_id"]

    attempt = stack.qrt("case", "attempt", case_id, "--result", "not_located", "--team", "day-east")
    assert attempt.returncode == 0, attempt.stderr
    closed = stack.qrt("case", "outcome", case_id, "--outcome", "not_located")
    assert closed.returncode == 0, closed.stderr
    again = stack.qrt("case", "outcome", case_id, "--outcome", "not_located")
    assert again.returncode == 1 and "is closed" in again.stderr
    wait_for(lambda: stack.queue() == [], 10, "an empty queue")

    lines.write_text(_event("e-2", "ems", "EX-EMS-02", 5, patient=person) + "\n")
    assert stack.qrt("publish", str(lines)).returncode == 0
    (nxt,) = wait_for(lambda: stack.queue(), 20, "the next case")
    assert nxt["tier"] == "unlocated" and nxt["case_id"] != case_id


def test_first_start_prints_a_one_time_admin_sign_in(stack: Stack) -> None:
    found = [re.search(r"user '(\w+)', password '([^']+)'", line) for line in stack.said]
    (login,) = [m for m in found if m]
    form = urllib.parse.urlencode({"username": login[1], "password": login[2]}).encode()
    with urllib.request.urlopen(stack.api + "/api/v1/tokens", form, timeout=10) as answer:  # noqa: S310
        assert answer.status == 201 and json.load(answer)["access_token"].startswith("qrt_")
    second = [line for line in stack.said if "first sign-in" in line]
    assert len(second) == 1  # said once; the password is kept only as its argon2 hash


def _metrics(url: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (loopback URL)
        text = answer.read().decode()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


def test_an_operator_sees_health_lag_and_rejections(stack: Stack, tmp_path: Path) -> None:
    assert stack.get("/healthz") == {"status": "ok"}
    assert stack.get("/readyz") == {"status": "ready", "store": "ok", "broker": "ok"}
    workers = (stack.data_dir / "run" / "all.metrics").read_text().strip()  # the one worker
    malformed = "qrt_intake_events_total{reason=malformed_json,result=rejected}"
    before = _metrics(stack.api + "/metrics").get("qrt_rejected_records{}", 0)
    counted_before = _metrics(workers).get(malformed, 0)
    lines = tmp_path / "ops.jsonl"
    lines.write_text(_event("ops-1", "ems", "EX-EMS-01", 30) + "\n" + '{"event_id": "broken"\n')
    assert stack.qrt("publish", "--unscreened", str(lines)).returncode == 0

    def settled() -> dict[str, float] | None:
        found = _metrics(stack.api + "/metrics")
        lag = found.get("qrt_consumer_lag{group=qrt-all,topic=followup.intake.v1}")
        return found if found.get("qrt_rejected_records{}") == before + 1 and lag == 0 else None

    system = wait_for(settled, 30, "no lag and the new rejection in /metrics")
    assert system["qrt_consumer_lag{group=qrt-all,topic=overdose.ems.v1}"] == 0
    assert not [k for k in system if "group=qrt-cases" in k], "no lag of groups not running"
    assert "qrt_texts_by_state{state=queued}" in system
    assert _metrics(workers)[malformed] == counted_before + 1
    status = stack.qrt("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "lag qrt-all followup.intake.v1" in status.stdout
    assert f"rejected records (overdose.rejected.v1) {before + 1:g}" in status.stdout

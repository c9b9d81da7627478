"""Helpers for tests that run the real processes: workers, topics, polling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]


def wait_for(check: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.05) -> Any:
    """Poll a real system until `check()` is truthy; fail saying what never happened."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(every_s)


def stack_env(
    data_dir: Path, servers: str, prefix: str, database_url: str | None
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        QRT_DATA_DIR=str(data_dir),
        KAFKA_BOOTSTRAP_SERVERS=servers,
        QRT_TOPIC_PREFIX=prefix,
        QRT_TOPIC_PARTITIONS="4",
        PYTHONUNBUFFERED="1",
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    else:
        env.pop("DATABASE_URL", None)
    return env


class Worker:
    """`qrt worker ROLE` as a child process, logging to a file."""

    def __init__(self, role: str, env: dict[str, str], log_dir: Path) -> None:
        self.role = role
        self.env = env
        self.log = log_dir / f"{role}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        ready = Path(self.env["QRT_DATA_DIR"]) / "run" / f"{self.role}.ready"
        ready.unlink(missing_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "worker", self.role],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(lambda: ready.exists() or self.proc.poll() is not None, 90, f"{self.role} ready")  # type: ignore[union-attr]
        assert self.proc.poll() is None, f"{self.role} died at start:\n{self.tail()}"
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to commit offsets or finish a batch."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def producer(servers: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=servers, acks="all", max_request_size=16 * 1024 * 1024)


def read_topic(servers: str, topic: str, expect: int, timeout_s: float = 30) -> list[Any]:
    """Every message on a topic from the start, once at least `expect` are there."""
    consumer = KafkaConsumer(
        bootstrap_servers=servers, group_id=None, enable_auto_commit=False,
        fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=32 * 1024 * 1024,
    )  # fmt: skip
    try:
        partitions = wait_for(
            lambda: consumer.partitions_for_topic(topic), 10, f"topic {topic} to exist"
        )
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        messages: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                messages.extend(batch)
            if len(messages) >= expect:
                # one more short poll so that extra (unexpected) messages are seen too
                for batch in consumer.poll(timeout_ms=500).values():
                    messages.extend(batch)
                return messages
        raise AssertionError(
            f"{topic}: {len(messages)} messages after {timeout_s} s, want {expect}"
        )
    finally:
        consumer.close()


def cli_bearer(
    data_dir: Path, username: str = "tester", program: str = "example"
) -> dict[str, str]:
    """A coordinator made with `qrt user create` and a token from `qrt user token`, for a
    stack running on `data_dir`: the Authorization header."""
    env = dict(os.environ, QRT_DATA_DIR=str(data_dir))
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env.pop("DATABASE_URL", None)
    qrt = [sys.executable, "-m", "services.cli", "user"]
    made = subprocess.run(
        [*qrt, "create", username, "--role", "coordinator", "--program", program],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    token = subprocess.run(
        [*qrt, "token", username], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert token.returncode == 0, token.stderr
    return {"Authorization": f"Bearer {token.stdout.strip().splitlines()[-1]}"}

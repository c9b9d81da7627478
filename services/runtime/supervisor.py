"""`qrt up`: the whole stack on one machine, in the foreground, until Ctrl-C/SIGTERM.

Order: start (or find) the broker; migrate the store (in development, make the first
admin and print its sign-in once) and create topics, in a short-lived child
(services/runtime/stack_setup.py); start the API, then the workers, as child
processes, wait until each is ready, print the API URL. The workers are one process
running every role (`qrt worker all`), or one process per role when asked
(`--separate-workers`, QRT_UP_WORKERS=separate), as production runs them. A child that
dies is restarted; one that keeps failing is backed off and reported while the rest
runs on. Stopping (Ctrl-C, SIGTERM, or the embedded broker's end) ends the children
first, then the embedded broker.

This process lives as long as the stack and holds little: `qrt up` checks the settings
and execs `python -m services.runtime.supervisor` (`main` below), which imports the
settings, the broker and the run files; everything else runs in its children.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from services.runtime.children import die_with_parent
from services.runtime.embedded_broker import EmbeddedBroker, EmbeddedBrokerError, free_port
from services.runtime.run_files import (
    ALL_WORKERS,
    WORKER_ROLES,
    forget_run_files,
    ready_file,
    record_broker,
    record_workers,
)
from services.settings import Settings

READY_TIMEOUT_S = 90.0
SETUP_TIMEOUT_S = 120.0  # migrations of a large store may take a while
STOP_TIMEOUT_S = 15.0
RESTARTS_PER_MINUTE = 5
BACKOFF_S = 5.0
MAX_BACKOFF_S = 300.0
CALM_S = 60.0  # a child that ran this long before it died starts again at once


class StackFailedToStart(RuntimeError):
    pass


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    ready: Callable[[], bool]
    proc: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)
    backoff_s: float = 0.0  # while it keeps failing: the pause before the next start
    next_start: float = 0.0
    held: bool = False  # waiting out its backoff
    started_at: float = 0.0

    def start(self, env: dict[str, str]) -> None:
        self.started_at = time.monotonic()
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def private(data_dir: Path) -> None:
    """0700 for the data directory and its directories, 0600 for its files (a data
    directory made by an earlier version, or by hand, may be open to others)."""
    data_dir.chmod(0o700)
    for path in data_dir.rglob("*"):
        if path.is_symlink():
            continue
        path.chmod(0o700 if path.is_dir() else 0o600)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback URL)
            return bool(response.status == 200)
    except OSError:
        return False


class Stack:
    def __init__(
        self,
        settings: Settings,
        api_port: int,
        say: Callable[[str], None],
        separate: bool = False,
    ) -> None:
        self.settings = settings
        self.worker_roles = WORKER_ROLES if separate else (ALL_WORKERS,)
        self.api_port = api_port or free_port()
        self.say = say
        self.broker: EmbeddedBroker | None = None
        self.children: list[Child] = []
        self._stop = threading.Event()
        self.failed = False
        self._lock: IO[str] | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.settings.api_host}:{self.api_port}"

    def _child_env(self, servers: str) -> dict[str, str]:
        env = dict(os.environ)
        env["QRT_DATA_DIR"] = str(self.settings.data_dir.resolve())
        env["KAFKA_BOOTSTRAP_SERVERS"] = servers
        env["PYTHONUNBUFFERED"] = "1"
        if self.broker is not None:  # topics in memory: the gateway keeps what it accepts
            env.setdefault("QRT_GATEWAY_INBOX", "1")
        env["QRT_METRICS_PORT"] = "0"  # each worker on a free port (run/<role>.metrics)
        env.setdefault("MALLOC_ARENA_MAX", "2")  # glibc: fewer thread heaps keeping freed memory
        return env

    def _children(self, logs: Path) -> list[Child]:
        """The workers (one child named `workers` for `qrt worker all`, or one per role),
        then the API."""
        qrt = [sys.executable, "-m", "services.cli"]
        health = f"{self.api_url}/healthz"
        return [
            Child(
                name,
                [*qrt, "worker", role],
                logs / f"{name}.log",
                lambda role=role: ready_file(self.settings, role).exists(),  # type: ignore[misc]
            )
            for role in self.worker_roles
            for name in ("workers" if role == ALL_WORKERS else role,)
        ] + [
            Child(
                "api",
                [*qrt, "api", "--host", self.settings.api_host, "--port", str(self.api_port)],
                logs / "api.log",
                lambda: _http_ok(health),
            )
        ]

    def _take_data_dir(self) -> None:
        """One stack per data directory: a second `qrt up` would overwrite the run files.
        The directory and what is in it are made private to this user (0700 / 0600)."""
        run = self.settings.data_dir / "run"
        run.mkdir(parents=True, exist_ok=True)
        private(self.settings.data_dir)
        lock = open(run.parent / "stack.lock", "a+")  # held until the stack stops
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._lock = lock
        except BlockingIOError as exc:
            lock.close()
            raise StackFailedToStart(
                f"another `qrt up` is running with data directory {self.settings.data_dir}; "
                "stop it, or pass --data-dir for a second stack"
            ) from exc

    def _hold_api_port(self) -> socket.socket:
        """The API's port, bound (not listening) until the API starts: no free port picked
        meanwhile (the broker's, a worker's metrics port) can be the same one."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.settings.api_host, self.api_port))
        except OSError as exc:
            sock.close()
            raise StackFailedToStart(
                f"cannot listen on {self.settings.api_host}:{self.api_port} ({exc.strerror}); "
                "pass --api-port N, or --api-port 0 for a free port"
            ) from exc
        return sock

    def start(self) -> None:
        data = self.settings.data_dir
        logs = data / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self._take_data_dir()
        held = self._hold_api_port()
        try:
            self._start(held)
        finally:
            held.close()

    def _start(self, held: socket.socket) -> None:
        data = self.settings.data_dir
        logs = data / "logs"
        forget_run_files(self.settings)
        self.say(f"data directory {data.resolve()} (logs in {logs.resolve()})")
        servers = self.settings.kafka_bootstrap_servers
        if not servers:
            self.broker = EmbeddedBroker(log_file=logs / "broker.log")
            servers = self.broker.start()
            self.say(f"embedded Kafka-compatible broker on {servers}")
        record_broker(self.settings, servers)
        env = self._child_env(servers)
        self._set_up(env)
        record_workers(self.settings, self.worker_roles)
        self.children = self._children(logs)
        self._env = env
        deadline = time.monotonic() + READY_TIMEOUT_S
        api, workers = self.children[-1], self.children[:-1]
        held.close()  # the API first: the workers' metrics servers take free ports after it
        api.start(env)
        if not self._wait_ready([api], deadline):
            return
        for child in workers:
            child.start(env)
        self._wait_ready(workers, deadline)

    def _set_up(self, env: dict[str, str]) -> None:
        """Migrations, the first admin and the topics, in a child of their own
        (services/runtime/stack_setup.py): what it says is said here."""
        argv = [sys.executable, "-m", "services.runtime.stack_setup", self.api_url]
        try:
            done = subprocess.run(
                argv, env=env, capture_output=True, text=True, timeout=SETUP_TIMEOUT_S,
                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise StackFailedToStart(
                f"migrating the store and creating topics took over {SETUP_TIMEOUT_S:.0f} s"
            ) from exc
        if done.returncode != 0:  # a known error is its one line, anything else its end
            lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
            known = lines[-1].startswith("error: ")
            raise StackFailedToStart(
                lines[-1].removeprefix("error: ") if known else "\n".join(lines[-15:])
            )
        sys.stderr.write(done.stderr)  # its log lines (topics created)
        for line in done.stdout.splitlines():
            self.say(line)

    def _wait_ready(self, children: list[Child], deadline: float) -> bool:
        """Until every child is ready (False: the stack was asked to stop meanwhile)."""
        waiting = list(children)
        while waiting:
            for child in list(waiting):
                if not child.alive():
                    raise StackFailedToStart(
                        f"{child.name} exited during start-up; its log ends with:\n"
                        + child.log_tail()
                    )
                if child.ready():
                    waiting.remove(child)
            if time.monotonic() > deadline:
                names = ", ".join(c.name for c in waiting)
                raise StackFailedToStart(f"not ready after {READY_TIMEOUT_S:.0f} s: {names}")
            if self._stop.wait(0.1):
                return False
        return True

    def watch(self) -> None:
        """Until asked to stop: restart any child that died. One that keeps failing (more
        than RESTARTS_PER_MINUTE) is backed off (BACKOFF_S doubling up to MAX_BACKOFF_S)
        and reported, while the rest of the stack runs on; only the embedded broker's
        end stops the stack (its topics are gone)."""
        while not self._stop.wait(0.5):
            if self.broker is not None and not self.broker.alive():
                self.say("error: the embedded broker stopped; stopping the stack")
                self.failed = True
                self._stop.set()
                return
            for child in self.children:
                if not child.alive() and time.monotonic() >= child.next_start:
                    self._restart(child)

    def _restart(self, child: Child) -> None:
        now = time.monotonic()
        code = child.proc.returncode if child.proc else None
        if now - child.started_at >= CALM_S:  # it ran a good while: a fresh start
            child.restarts, child.backoff_s = [], 0.0
        child.restarts = [t for t in child.restarts if now - t < 60]
        if len(child.restarts) >= RESTARTS_PER_MINUTE and not child.held:
            child.backoff_s = min(child.backoff_s * 2, MAX_BACKOFF_S) or BACKOFF_S
            child.next_start, child.held = now + child.backoff_s, True
            self.say(
                f"{child.name} keeps failing (exit {code}); next start in "
                f"{child.backoff_s:.0f} s; the rest of the stack runs on; see {child.log_path}"
            )
            return
        child.held = False
        child.restarts.append(now)
        self.say(f"{child.name} exited with {code}; restarting it")
        child.start(self._env)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in self.children:
            child.wait_or_kill(deadline)
        if self.broker is not None:
            self.broker.stop()
        if self._lock is not None:
            forget_run_files(self.settings)
            self._lock.close()


def run_stack(
    settings: Settings, api_port: int, say: Callable[[str], None], separate: bool = False
) -> int:
    stack = Stack(settings, api_port, say, separate)

    def on_signal(signum: int, _frame: object) -> None:
        stack.request_stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
        if stack.stopping:
            return 0
        say(f"QRT stack is up. API: {stack.api_url}  (OpenAPI docs: {stack.api_url}/docs)")
        say("Publish events with `qrt publish FILE`; press Ctrl-C to stop.")
        stack.watch()
        return 1 if stack.failed else 0
    except StackFailedToStart as exc:
        say(f"error: {exc}")
        return 1
    finally:
        say("stopping...")
        stack.stop()
        say("stopped.")


def _say(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str]) -> int:
    """`qrt up` once its settings were checked (services/cli.py execs this): the data
    directory in QRT_DATA_DIR, the rest of the settings in the environment."""
    parser = argparse.ArgumentParser(prog="qrt up")
    parser.add_argument("--api-port", type=int, required=True)
    parser.add_argument("--separate-workers", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return run_stack(Settings(), args.api_port, _say, args.separate_workers)
    except EmbeddedBrokerError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

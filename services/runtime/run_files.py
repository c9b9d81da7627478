"""Small files under `<data_dir>/run/` through which the processes of one stack find each other."""

from __future__ import annotations

import os
from pathlib import Path

from services.settings import Settings

WORKER_ROLES = ("intake", "cases", "timers", "sms", "spikes")  # `qrt worker ROLE`: one role each
ALL_WORKERS = "all"  # `qrt worker all`: every role in one process (`qrt up`'s default)


class NoBrokerConfigured(RuntimeError):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(
            "no Kafka broker: set KAFKA_BOOTSTRAP_SERVERS, or start the stack with "
            f"`qrt up` (it records its embedded broker in {data_dir / 'run' / 'broker'})"
        )


def run_dir(settings: Settings) -> Path:
    path = settings.data_dir / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def record_broker(settings: Settings, servers: str) -> None:
    write_atomically(run_dir(settings) / "broker", servers + "\n")


def forget_run_files(settings: Settings) -> None:
    for path in (settings.data_dir / "run").glob("*"):
        path.unlink(missing_ok=True)


def bootstrap_servers(settings: Settings) -> str:
    """KAFKA_BOOTSTRAP_SERVERS if set, else the embedded broker of a running `qrt up`."""
    if settings.kafka_bootstrap_servers:
        return settings.kafka_bootstrap_servers
    recorded = settings.data_dir / "run" / "broker"
    if recorded.exists():
        return recorded.read_text().strip()
    raise NoBrokerConfigured(settings.data_dir)


def ready_file(settings: Settings, role: str) -> Path:
    return run_dir(settings) / f"{role}.ready"


def record_workers(settings: Settings, roles: tuple[str, ...]) -> None:
    """`qrt up` says which worker processes it runs (`all`, or one per role)."""
    write_atomically(run_dir(settings) / "workers", "\n".join(roles) + "\n")


def recorded_workers(settings: Settings) -> tuple[str, ...]:
    """The worker processes `qrt up` said it runs; () when no `qrt up` said so."""
    try:
        return tuple((settings.data_dir / "run" / "workers").read_text().split())
    except OSError:
        return ()


def worker_processes(settings: Settings) -> tuple[str, ...]:
    """The worker processes of this data directory's stack: as `qrt up` recorded them;
    else (workers started by hand) the one worker if its run files are there, and the
    separate roles if any of theirs is (or nothing of the one worker is)."""
    recorded = recorded_workers(settings)
    if recorded:
        return recorded
    run = settings.data_dir / "run"

    def present(role: str) -> bool:
        return any((run / f"{role}.{kind}").exists() for kind in ("ready", "metrics"))

    one = (ALL_WORKERS,) if present(ALL_WORKERS) else ()
    separate = any(present(role) for role in WORKER_ROLES) or not one
    return one + (WORKER_ROLES if separate else ())

"""Small files under `<data_dir>/run/` through which the processes of one stack find each other."""

from __future__ import annotations

import os
from pathlib import Path

from services.settings import Settings


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

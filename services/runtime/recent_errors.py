"""The last warnings and errors of a process, for `qrt status`: kept in
`<data_dir>/run/<role>.errors` (JSON lines, the newest last). Messages are the log's
own (exception type and message, never a traceback), with long digit runs masked."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

from services.runtime.retry import mask_numbers
from services.runtime.run_files import run_dir, write_atomically
from services.settings import Settings

KEEP = 20


class RecentErrors(logging.Handler):
    def __init__(self, path: Path, keep: int = KEEP) -> None:
        super().__init__(level=logging.WARNING)
        self.path = path
        self.lines: deque[str] = deque(maxlen=keep)
        self._write = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = mask_numbers(record.getMessage().splitlines()[0])[:300]
            self.lines.append(
                json.dumps(
                    {
                        "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
                        "level": record.levelname,
                        "logger": record.name,
                        "message": message,
                    }
                )
            )
            with self._write:
                write_atomically(self.path, "\n".join(self.lines) + "\n")
        except Exception:  # a log handler never breaks the process
            self.handleError(record)


def keep_recent_errors(settings: Settings, role: str) -> None:
    logging.getLogger().addHandler(RecentErrors(run_dir(settings) / f"{role}.errors"))


def read_recent_errors(settings: Settings) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for path in sorted((settings.data_dir / "run").glob("*.errors")):
        role = path.stem
        for line in path.read_text(errors="replace").splitlines():
            try:
                found.append({"role": role, **json.loads(line)})
            except ValueError:
                continue
    return sorted(found, key=lambda e: e.get("at", ""))

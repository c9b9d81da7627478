"""Whether the SMS worker's sending is paused (services/sms/sender_pause.py): kept in
`<data_dir>/run/sms.sending` (JSON: cause, detail, since, resume_at, failed_probes)
while it is, removed when sending resumes, read by `qrt status` and by the API's
`/metrics` (`qrt_sms_sending_paused`). No personal data: a cause, Twilio's code and
words, and times."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from services.runtime.run_files import run_dir, write_atomically
from services.settings import Settings

FILE = "sms.sending"


def _path(settings: Settings) -> Path:
    return settings.data_dir / "run" / FILE


def record_sending_pause(settings: Settings, state: Mapping[str, Any] | None) -> None:
    if state is None:
        _path(settings).unlink(missing_ok=True)
    else:
        write_atomically(run_dir(settings) / FILE, json.dumps(dict(state)) + "\n")


def read_sending_pause(settings: Settings) -> dict[str, Any] | None:
    """The pause as last reported, or None when sending is not paused."""
    try:
        found = json.loads(_path(settings).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None

"""The development sender: texts go to a local outbox file, not to anyone's phone.

Used when no Twilio credentials are set. Each line of `<data dir>/sms-outbox.jsonl`
holds the sid, the time, the body and a blind token of the number (never the
number itself); `qrt sms outbox` lists them with their case and state."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from services.sms.sender_types import SentMessage


class LocalOutboxSender:
    def __init__(
        self, path: Path, token_of: Callable[[str], str], clock: Callable[[], datetime]
    ) -> None:
        self.path, self.token_of, self.clock = path, token_of, clock
        self._lock = asyncio.Lock()

    async def send(self, to: str, body: str) -> SentMessage:
        sid = "LO" + secrets.token_hex(16)
        line = {
            "sid": sid,
            "at": self.clock().isoformat(),
            "to_token": self.token_of(to),
            "body": body,
        }
        async with self._lock:
            await asyncio.to_thread(self._append, json.dumps(line))
        return SentMessage(sid=sid, status="delivered")

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
            out.flush()

    async def find_sent(
        self, to: str, body: str, since: datetime, until: datetime
    ) -> SentMessage | None:
        token = self.token_of(to)
        for line in read_outbox(self.path):
            at = datetime.fromisoformat(line["at"])
            if line["to_token"] == token and line["body"] == body and since <= at <= until:
                return SentMessage(sid=line["sid"], status="delivered")
        return None

    async def close(self) -> None:
        return None


def read_outbox(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.strip():
            out.append(json.loads(raw))
    return out

"""Publish JSON-lines events to the source topics with kafka-python (acks=all).

With a `Screening` (what `qrt publish` gives), every line is first screened as the intake
worker screens it (`line_screening.py`): a line the worker would dead-letter is refused
here with the same reason and is not sent; with `all_or_nothing`, one refused line holds
back them all."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from schemas.overdose_event import Source
from services.ingest.line_screening import LineRefused, Screening, refusal_of
from services.settings import Settings
from services.topics import SOURCE_TOPICS

MAX_REQUEST_BYTES = 16 * 1024 * 1024


@dataclass
class LineReport:
    line: int
    message: str


@dataclass
class PublishReport:
    sent: int = 0
    failed: list[LineReport] = field(default_factory=list)
    warnings: list[LineReport] = field(default_factory=list)
    refused: list[LineRefused] = field(default_factory=list)
    held: bool = False  # all or nothing: refused lines held back every other line


@dataclass(frozen=True)
class _Outgoing:
    line: int
    topic: str
    key: bytes | None
    value: bytes


def make_producer(servers: str) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=servers.split(","),
        acks="all",
        linger_ms=5,
        max_request_size=MAX_REQUEST_BYTES,
        retries=5,
        client_id="qrt-publish",
    )


def topic_for_line(raw: bytes, source: Source | None) -> tuple[Source, bytes | None, str | None]:
    """The source topic, the message key (event_id) and a warning, for one line."""
    if source is not None:
        parsed: Any = _try_json(raw)
        key = parsed.get("event_id") if isinstance(parsed, dict) else None
        return source, str(key).encode() if key else None, None
    parsed = _try_json(raw)
    if not isinstance(parsed, dict):
        return (
            Source.EMS,
            None,
            "not a JSON object; sent to the EMS topic, where the intake worker will reject "
            "it with the reason",
        )
    named = parsed.get("event_id") or parsed.get("referral_id")  # a referral's own id
    key = str(named).encode() if named else None
    try:
        return Source(str(parsed.get("source"))), key, None
    except ValueError:
        return (
            Source.EMS,
            key,
            f"source {parsed.get('source')!r} is not ems, police or referral; sent to the "
            "EMS topic, where the intake worker will reject it",
        )


def _try_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _outgoing(
    lines: Iterable[bytes],
    settings: Settings,
    source: Source | None,
    screening: Screening | None,
    report: PublishReport,
) -> list[_Outgoing]:
    """The messages to send, one per non-blank line; the refused lines go to the report."""
    out = []
    for number, line in enumerate(lines, start=1):
        raw = line.strip()
        if not raw:
            continue
        chosen, key, warning = topic_for_line(raw, source)
        topic = settings.topic(SOURCE_TOPICS[chosen.value])
        refused = refusal_of(raw, topic, screening, number) if screening else None
        if refused is not None:
            report.refused.append(refused)
            continue
        if warning:
            report.warnings.append(LineReport(number, warning))
        out.append(_Outgoing(number, topic, key, raw))
    return out


def publish_lines(
    producer: KafkaProducer,
    settings: Settings,
    lines: Iterable[bytes],
    *,
    source: Source | None = None,
    screening: Screening | None = None,
    progress: Callable[[int], None] = lambda n: None,
    timeout_s: float = 30.0,
) -> PublishReport:
    """Send each non-blank line as one message; every line is accounted for in the report
    (sent, failed, or refused by the screening when one is given)."""
    report = PublishReport()
    outgoing = _outgoing(lines, settings, source, screening, report)
    progress(len(report.refused))
    if screening is not None and screening.all_or_nothing and report.refused:
        report.held = True
        return report
    pending: list[tuple[int, Any]] = []
    for item in outgoing:
        try:
            future = producer.send(item.topic, key=item.key, value=item.value)
        except KafkaError as exc:
            report.failed.append(LineReport(item.line, f"not sent: {exc}"))
            continue
        pending.append((item.line, future))
    producer.flush(timeout=timeout_s)
    for number, future in pending:
        try:
            future.get(timeout=timeout_s)
            report.sent += 1
        except KafkaError as exc:
            report.failed.append(LineReport(number, f"broker did not acknowledge: {exc}"))
        progress(1)
    return report

"""A NEMSIS export, report by report: classified, routed, published (acks=all) or
accounted for. Every report ends up in exactly one line of the summary.

All or nothing per file: the whole file is read and checked first (the parser holds one
report at a time; only the converted events are kept, each as its JSON bytes) and nothing
is published when it cannot be read to its end: the summary says after which report it
broke and why."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from schemas.overdose_event import OverdoseEvent
from services.ingest.nemsis import (
    MAX_BYTES,
    MAX_ELEMENTS,
    NemsisRefused,
    NemsisReport,
    read_reports,
)
from services.ingest.overdose_class import OverdoseClass, classify, followed_up
from services.programs import Program, Programs
from services.settings import Settings
from services.triage.routing import route_event

if TYPE_CHECKING:
    from kafka import KafkaProducer

SEND_AT_ONCE = 10_000  # events sent before waiting for the broker's acknowledgements


@dataclass
class NemsisSummary:
    reports: int = 0
    overdoses: Counter[str] = field(default_factory=Counter)
    published: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> count
    rejected: list[tuple[str, str]] = field(default_factory=list)  # report id, reason
    event_ids: list[str] = field(default_factory=list)
    refused: str | None = None  # the file could not be read on (malformed, unsafe, too big)
    last_report: str | None = None  # the last report read whole
    held: bool = False  # all or nothing: rejected reports held back the others

    def lines(self) -> list[str]:
        out = [
            f"reports read: {self.reports}",
            "overdoses: "
            + (", ".join(f"{n} {kind}" for kind, n in sorted(self.overdoses.items())) or "0"),
            f"published: {self.published}",
            "skipped: "
            + (", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items())) or "0"),
            f"rejected: {len(self.rejected)}",
        ]
        out += [f"  report {rid}: {why}" for rid, why in self.rejected]
        if self.refused:
            last = f" (the last one read whole: {self.last_report})" if self.last_report else ""
            out.append(
                f"file refused after {self.reports} report(s){last}: {self.refused}; "
                "nothing was published: fix the file and publish it again"
            )
        elif self.held:
            out.append(
                f"nothing was published (all or nothing): {len(self.rejected)} report(s) "
                "rejected; fix them and publish the file again"
            )
        return out


def decide(report: NemsisReport, programs: Programs, summary: NemsisSummary) -> bool:
    """Count the report; True when its event should be published."""
    summary.reports += 1
    program = route_event(report.event, programs) if report.event is not None else None
    if isinstance(program, Program) and program.ingest.suspected_icd10_prefixes is not None:
        prefixes = tuple(program.ingest.suspected_icd10_prefixes)
        report.classification = classify(report.codes, report.medications, prefixes)
    if report.classification is OverdoseClass.NOT_OVERDOSE:
        summary.skipped["not an overdose"] += 1
        return False
    summary.overdoses[report.classification.value] += 1
    if report.event is None or program is None:
        summary.rejected.append((report.report_id, report.problem or "not mappable"))
        return False
    if not isinstance(program, Program):
        summary.rejected.append((report.report_id, program.detail))
        return False
    if not followed_up(report.classification, program.ingest.follow_up):
        summary.skipped[f"{report.classification.value} (not followed up by {program.id})"] += 1
        return False
    return True


def publish_nemsis(
    source: IO[bytes],
    producer: KafkaProducer,
    settings: Settings,
    programs: Programs,
    *,
    agency_id: str | None = None,
    all_or_nothing: bool = False,
    progress: Callable[[int], None] = lambda n: None,
    timeout_s: float = 30.0,
) -> NemsisSummary:
    """Read the whole file, then publish its events; nothing when the file cannot be read
    to its end (`refused`), nor, with `all_or_nothing`, when a report was rejected."""
    summary = NemsisSummary()
    try:
        ready = read_nemsis(
            source, programs, summary, agency_id=agency_id,
            max_elements=settings.nemsis_max_elements_per_report, progress=progress,
        )  # fmt: skip
    except NemsisRefused as exc:
        summary.refused = str(exc)
        return summary
    if all_or_nothing and summary.rejected:
        summary.held = True
        return summary
    for start in range(0, len(ready), SEND_AT_ONCE):
        _send(ready[start : start + SEND_AT_ONCE], producer, settings, summary, timeout_s)
    return summary


def _send(
    part: list[Checked], producer: KafkaProducer, settings: Settings, summary: NemsisSummary,
    timeout_s: float,
) -> None:  # fmt: skip
    """Send, then wait until the broker acknowledged every one (a future each, so a part
    at a time: the futures of a whole file would weigh more than its events)."""
    from kafka.errors import KafkaError  # only to publish: reading needs no broker

    from services.topics import SOURCE_TOPICS

    pending: list[tuple[str, Any]] = []
    for message in part:
        topic = settings.topic(SOURCE_TOPICS[message.source])
        try:
            future = producer.send(topic, key=message.event_id.encode(), value=message.value)
        except KafkaError as exc:
            summary.rejected.append((message.event_id, f"not sent: {exc}"))
            continue
        pending.append((message.event_id, future))
        summary.event_ids.append(message.event_id)
    producer.flush(timeout=timeout_s)
    for report_id, future in pending:
        try:
            future.get(timeout=timeout_s)
            summary.published += 1
        except KafkaError as exc:
            summary.rejected.append((report_id, f"broker did not acknowledge: {exc}"))


@dataclass(frozen=True, slots=True)
class Checked:
    """A checked report's event as it will be sent: its JSON bytes, about an eighth of
    the model object's memory (what a whole file read first keeps), and its key. The
    event id is the report's id (its UUID, else eRecord.01)."""

    source: str
    agency_id: str
    event_id: str
    value: bytes

    def event(self) -> OverdoseEvent:
        return OverdoseEvent.model_validate_json(self.value)


def checked(event: OverdoseEvent) -> Checked:
    return Checked(
        sys.intern(event.source.value),
        sys.intern(event.agency_id),  # one agency per file: one string for them all
        event.event_id,
        event.model_dump_json(exclude_none=True).encode(),
    )


def read_nemsis(
    source: IO[bytes],
    programs: Programs,
    summary: NemsisSummary,
    *,
    agency_id: str | None = None,
    own_agency: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_elements: int = MAX_ELEMENTS,
    progress: Callable[[int], None] = lambda n: None,
) -> list[Checked]:
    """Read and check a whole export before anything is published: the events to
    publish, encoded; `summary` counts every report. A file that cannot be read to its
    end raises NemsisRefused (`summary` then says how far it was read)."""
    ready: list[Checked] = []
    for report in read_reports(
        source, agency_id=agency_id, own_agency=own_agency, max_bytes=max_bytes,
        max_elements=max_elements,
    ):  # fmt: skip
        progress(1)
        if decide(report, programs, summary) and report.event is not None:
            ready.append(checked(report.event))
        summary.last_report = report.report_id
    return ready


def collect_nemsis(
    source: IO[bytes],
    programs: Programs,
    *,
    own_agency: str,
    max_bytes: int,
    max_elements: int = MAX_ELEMENTS,
) -> tuple[NemsisSummary, list[Checked]]:
    """Read a whole export before anything is published (the gateway's all-or-nothing):
    the summary, and the events to publish, encoded (`Checked.event()` gives one back).
    A refused file raises NemsisRefused."""
    summary = NemsisSummary()
    ready = read_nemsis(
        source, programs, summary, own_agency=own_agency, max_bytes=max_bytes,
        max_elements=max_elements,
    )  # fmt: skip
    return summary, ready

"""`qrt publish`: overdose events to the source topics (acks=all), checked first.

JSON lines are screened one by one by the intake worker's own screening, with its
programs, clock and rules: what passes is published, each refused line is listed with
its number, reason and field errors (never its values), and the command ends with
"published N event(s); M refused; K failed" and a non-zero status when any line was
refused or failed. `--all-or-nothing` publishes nothing when any line is refused;
`--unscreened` sends every line as it is (the intake worker dead-letters what it refuses).

A NEMSIS export is read whole before anything is published: a file that cannot be read
to its end publishes nothing and says after which report it broke and why."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from services.cli_common import err, say, settings_of

REFUSED = 2  # some input would be refused: fix it and publish again
FAILED = 1  # the broker did not take something


def cmd_publish(args: argparse.Namespace) -> int:
    from services.runtime.run_files import bootstrap_servers

    settings = settings_of(args)
    if (args.file is None) == (not args.example) or (args.example and args.nemsis):
        err("error: give a FILE (or - for standard input), or --example alone")
        return 2
    bootstrap_servers(settings)  # no broker known: say so before reading any input
    if args.nemsis:
        return _publish_nemsis(args, settings)
    if args.example:
        lines = _example_lines(settings)
    elif args.file == "-":
        lines = sys.stdin.buffer.read().splitlines()
    else:
        try:
            lines = Path(args.file).read_bytes().splitlines()
        except OSError as exc:
            err(f"error: cannot read {args.file}: {exc.strerror}")
            return 2
    return _publish_lines(args, settings, lines)


def _publish_lines(args: argparse.Namespace, settings: Any, lines: list[bytes]) -> int:
    from tqdm import tqdm

    from schemas.overdose_event import Source
    from services.bootstrap import bootstrap, producer_for
    from services.ingest.line_screening import Screening
    from services.ingest.publisher import publish_lines
    from services.topics import REFERRALS

    if args.unscreened and args.all_or_nothing:
        err("error: --unscreened sends every line; --all-or-nothing needs the screening")
        return 2
    ctx = bootstrap(settings)  # the worker's programs, clock and rules (no store opened)
    screening = Screening(
        ctx.programs, ctx.clock, ctx.rules, settings.topic(REFERRALS), args.all_or_nothing
    )
    producer = producer_for(settings)
    try:
        with tqdm(total=len(lines), unit="event", disable=None, file=sys.stderr) as bar:
            report = publish_lines(
                producer,
                settings,
                lines,
                source=Source(args.source) if args.source else None,
                screening=None if args.unscreened else screening,
                progress=bar.update,
            )
    finally:
        producer.close()
    for item in report.warnings:
        err(f"line {item.line}: warning: {item.message}")
    for refused in report.refused:
        err(f"line {refused.line}: refused: {refused.reason}: {refused.detail}")
        for name, message in refused.errors:
            err(f"  {name}: {message}")
    for item in report.failed:
        err(f"line {item.line}: error: {item.message}")
    if report.held:
        err("nothing was published (--all-or-nothing): fix the refused lines and publish again")
    say(
        f"published {report.sent} event(s); {len(report.refused)} refused; "
        f"{len(report.failed)} failed"
    )
    if report.refused:
        return REFUSED
    return FAILED if report.failed else 0


def _example_lines(settings: Any) -> list[bytes]:
    """The tour's example events, timed before the clock's now (services/simulation/)."""
    from services.clock import shifted_clock
    from services.simulation.example_events import example_events, example_summary

    events = example_events(shifted_clock(settings.clock_offset_seconds)())
    say(f"example: {example_summary()}")
    return [json.dumps(event).encode() for event in events]


def _publish_nemsis(args: argparse.Namespace, settings: Any) -> int:
    from tqdm import tqdm

    from services.bootstrap import producer_for
    from services.ingest.nemsis_batch import publish_nemsis
    from services.programs import load_programs

    programs = load_programs(settings.programs_file)
    try:
        source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    except OSError as exc:
        err(f"error: cannot read {args.file}: {exc.strerror}")
        return 2
    producer = producer_for(settings)
    try:
        with source, tqdm(unit="report", disable=None, file=sys.stderr) as bar:
            summary = publish_nemsis(
                source, producer, settings, programs, agency_id=args.agency,
                all_or_nothing=args.all_or_nothing, progress=bar.update,
            )  # fmt: skip
    finally:
        producer.close()
    for line in summary.lines():
        say(line)
    if summary.refused or summary.held:
        return REFUSED
    return FAILED if summary.rejected else 0


def add_publish_command(sub: Any) -> None:
    publish = sub.add_parser(
        "publish", help="publish overdose events: JSON lines, or a NEMSIS v3.5 export"
    )
    publish.add_argument(
        "file", nargs="?", help="a JSON-lines file (or NEMSIS XML), or - for standard input"
    )
    publish.add_argument(
        "--example",
        action="store_true",
        help="publish the tour's example events, timed 2 to 30 hours before now",
    )
    publish.add_argument(
        "--nemsis", action="store_true", help="the file is a NEMSIS v3.5 EMSDataSet (XML)"
    )
    publish.add_argument(
        "--agency", help="with --nemsis: the agency id (default: the file's dAgency.02)"
    )
    publish.add_argument(
        "--source",
        choices=["ems", "police"],
        help="topic for every line (default: each line's `source`)",
    )
    publish.add_argument(
        "--all-or-nothing",
        action="store_true",
        help="publish nothing when any line (any NEMSIS report) would be refused",
    )
    publish.add_argument(
        "--unscreened",
        action="store_true",
        help="JSON lines: send every line as it is; the intake worker dead-letters what it "
        "refuses (to try the rejections path)",
    )
    publish.set_defaults(func=cmd_publish)

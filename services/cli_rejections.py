"""`qrt rejections [--since 24h|ISO] [--program ID] [--agency ID] [--format table|json]`:
the records agencies sent that could not be used, as the case worker kept them from
overdose.rejected.v1; newest first, after the counts per agency and reason of the last
24 h. An operator's command: every program, and those traced to none. Never the
original bytes (an admin reads one through the API, audited)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from services.cli_common import context_of, err, say

DETAIL_WIDTH = 100


def cmd_rejections(args: argparse.Namespace) -> int:
    from services.ingest.rejections import RejectionScope, parse_since
    from services.store.rejection_records import rejection_list

    ctx = context_of(args)
    zone = "UTC"
    scope = RejectionScope(everything=True)
    if args.program is not None:
        program = ctx.programs.get(args.program)
        if program is None:
            err(f"error: no program {args.program!r}; known: {', '.join(ctx.programs.ids)}")
            return 2
        zone, scope = program.timezone, RejectionScope(programs=(args.program,))
    now = ctx.clock()
    try:
        since = parse_since(args.since, now)
    except ValueError as exc:
        err(f"error: {exc}")
        return 2
    with ctx.store.engine.connect() as conn:
        found = rejection_list(
            conn, scope, since=since, now=now, agency=args.agency, limit=args.limit
        )
    try:
        if args.format == "json":
            say(json.dumps(found.model_dump(mode="json"), indent=2))
        else:
            _table(found, zone)
    except BrokenPipeError:  # `qrt rejections | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _table(found: Any, zone: str) -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    counted = sum(c.count for c in found.counts)
    say(f"{counted} record(s) refused in the last 24 h, by agency and reason:")
    for c in found.counts:
        say(f"  {c.count:>5}  {c.agency_id or '(agency not known)':<24} {c.reason_words}")
    shown = len(found.items)
    more = f" (the newest {shown} shown)" if found.total > shown else ""
    since = found.since.astimezone(tz)
    say(f"\n{found.total} record(s) refused since {since:%Y-%m-%d %H:%M %Z}{more}")
    if not shown:
        return
    say(f"{'time (' + zone + ')':<22} {'program':<12} {'agency':<16} {'source':<7} reason")
    for r in found.items:
        say(
            f"{r.rejected_at.astimezone(tz):%Y-%m-%d %H:%M:%S}    {r.program_id or '-':<12} "
            f"{r.agency_id or '-':<16} {r.source or '-':<7} {r.reason}: {r.reason_words}"
        )
        say(f"    {r.detail[:DETAIL_WIDTH]}{'...' if len(r.detail) > DETAIL_WIDTH else ''}")
        for e in r.errors:
            say(f"    - {e.field}: {e.message}")
        where = f"{r.origin_topic}[{r.origin_partition}]@{r.origin_offset}"
        say(f"    read from {where}, {r.original_size} bytes (rejection {r.id})")


def _limit(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 10000:
        raise argparse.ArgumentTypeError("give 1 to 10000")
    return value


def add_rejections_command(sub: Any) -> None:
    rejections = sub.add_parser(
        "rejections", help="records the feeds sent that could not be used (newest first)"
    )
    rejections.add_argument(
        "--since", default="24h", help="24h, 7d, 90m or an ISO time with a UTC offset (24h)"
    )
    rejections.add_argument("--program", help="one program's (times in its zone)")
    rejections.add_argument("--agency", help="one agency's")
    rejections.add_argument("--limit", type=_limit, default=100, metavar="N",
                            help="at most N records (100; 1 to 10000)")  # fmt: skip
    rejections.add_argument("--format", choices=["table", "json"], default="table")
    rejections.set_defaults(func=cmd_rejections)

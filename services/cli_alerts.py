"""`qrt alerts [--program ID] [--open] [--limit N] [--format table|json]`: the spike
alerts the spike worker raised (services/spikes), open ones first, newest first, in
each program's time zone. An alert names an area, a window, counts and a rule; never a
person."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from services.cli_common import context_of, err, say


def cmd_alerts(args: argparse.Namespace) -> int:
    from services.spikes.alert_reads import list_alerts

    ctx = context_of(args)
    if args.program is not None and ctx.programs.get(args.program) is None:
        err(f"error: no program {args.program!r}; known: {', '.join(ctx.programs.ids)}")
        return 2
    chosen = [args.program] if args.program else ctx.programs.ids
    found = {p: list_alerts(ctx.store, p, open_only=args.open, limit=args.limit) for p in chosen}
    try:
        if args.format == "json":
            alerts = [a.model_dump(mode="json") for p in chosen for a in found[p]]
            say(json.dumps({"alerts": alerts}, indent=2))
        else:
            for program_id in chosen:
                _table(ctx.programs.get(program_id), found[program_id], args.open)
    except BrokenPipeError:  # `qrt alerts | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _table(program: Any, alerts: list[Any], open_only: bool) -> None:
    zone = program.zone
    which = "open spike alert(s)" if open_only else "spike alert(s)"
    say(f"{program.id}: {len(alerts)} {which} (times {program.timezone})")
    if not alerts:
        return
    say(f"  {'state':<7} {'area':<22} {'count':>5} {'fatal':>5} {'usual':>6}  "
        f"{'first':<16} {'raised':<16} rule")  # fmt: skip
    for a in alerts:
        state = "ended" if a.ended_at else "OPEN"
        area = f"{a.area_kind} {a.area}"
        say(
            f"  {state:<7} {area:<22} {a.count:>5} {a.fatal:>5} {a.expected:>6g}  "
            f"{a.first_event_at.astimezone(zone):%Y-%m-%d %H:%M} "
            f"{a.raised_at.astimezone(zone):%Y-%m-%d %H:%M} {a.rule}"
        )
        if a.ended_at:
            say(f"          ended {a.ended_at.astimezone(zone):%Y-%m-%d %H:%M}; alert {a.alert_id}")
        else:
            say(f"          alert {a.alert_id}")


def _limit(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 500:
        raise argparse.ArgumentTypeError("give 1 to 500")
    return value


def add_alerts_command(sub: Any) -> None:
    alerts = sub.add_parser("alerts", help="spike alerts: clusters of overdoses in one area")
    alerts.add_argument("--program", help="one program's (all of them without it)")
    alerts.add_argument("--open", action="store_true", help="only those still open")
    alerts.add_argument("--limit", type=_limit, default=50, metavar="N",
                        help="at most N per program (50; 1 to 500)")  # fmt: skip
    alerts.add_argument("--format", choices=["table", "json"], default="table")
    alerts.set_defaults(func=cmd_alerts)

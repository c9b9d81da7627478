"""`qrt report --program ID [--from DAY] [--to DAY] [--by month|week]
[--format table|json|csv] [--share]`: what a program reports for a period (the figures of
`GET /api/v1/programs/{id}/report`). An operator's command on the server: the clinical
measures are included; `--share` gives the figures for release (counts from 1 to 10 as
<11, and >10 for those that would reveal one). Days in the program's time zone, `--to`
included; without them, the last 12 full months. The read is audited (actor `cli`)."""

from __future__ import annotations

import argparse
import json
from datetime import date
from typing import Any

from services.cli_common import context_of, err, say

TITLES = {
    "report": "Report",
    "overdoses": "Overdoses reported",
    "cases": "Cases and follow-up",
    "clinical_figures": "Outcomes, referrals and services (clinical)",
    "repeats": "Repeat overdoses",
    "texts": "Texts",
    "rejections": "Rejected feed records (agency:reason)",
    "series": "Per month or week",
    "contact_time_distribution": "Hours to first contact",
    "by_team": "First contacts by team",
}


def cmd_report(args: argparse.Namespace) -> int:
    from schemas.report import ReportBy
    from services.reporting.build import audit_report_read, program_report
    from services.reporting.flat import report_csv, report_rows
    from services.reporting.period import PeriodError, default_period

    ctx = context_of(args)
    program = ctx.programs.get(args.program)
    if program is None:
        err(f"error: no program {args.program!r}; known: {', '.join(ctx.programs.ids)}")
        return 2
    now = ctx.clock()
    first, last = default_period(now.astimezone(program.zone).date(), args.since, args.until)
    try:
        report = program_report(
            ctx.store, program, first, last, ReportBy(args.by), clinical=True,
            share=args.share, now=now,
        )  # fmt: skip
    except PeriodError as exc:
        err(f"error: {exc}")
        return 2
    audit_report_read(ctx.store, "cli", report, now)
    if args.format == "json":
        say(json.dumps(report.model_dump(mode="json"), indent=2))
    elif args.format == "csv":
        say(report_csv(report).rstrip("\n"))
    else:
        _table(program.name, report_rows(report))
    return 0


def _table(name: str, rows: list[tuple[str, str, str]]) -> None:
    about = {measure: value for section, measure, value in rows if section == "report"}
    say(f"{name} ({about['program_id']}): {about['period_from']} to {about['period_to']}, "
        f"by {about['by']}, days in {about['zone']}")  # fmt: skip
    if about["share"] == "true":
        say(
            "For release: counts from 1 to 10 are shown as <11, counts that would reveal one "
            "as >10, shares that would reveal one as -"
        )
    width = max((len(m) for s, m, _ in rows if s != "report"), default=10)
    section = "report"
    for s, measure, value in rows:
        if s == "report":
            continue
        if s != section:
            section = s
            say(f"\n{TITLES.get(s, s)}")
        say(f"  {measure:<{width}}  {value or '-':>8}")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day such as 2026-03-01") from None


def add_report_command(sub: Any) -> None:
    report = sub.add_parser(
        "report", help="what a program reports for a period (overdoses, follow-up, texts)"
    )
    report.add_argument("--program", required=True)
    report.add_argument(
        "--from",
        dest="since",
        type=_day,
        metavar="DAY",
        help="first day, in the program's zone (default: 12 full months ago)",
    )
    report.add_argument(
        "--to", dest="until", type=_day, metavar="DAY",
        help="last day, included (default: the end of last month; with --from, today)",
    )  # fmt: skip
    report.add_argument("--by", choices=["month", "week"], default="month")
    report.add_argument("--format", choices=["table", "json", "csv"], default="table")
    report.add_argument("--share", action="store_true",
                        help="figures for release: counts from 1 to 10 as <11")  # fmt: skip
    report.set_defaults(func=cmd_report)

"""`qrt retention run [--program ID] [--dry-run]`: remove the personal data whose time is
up and the audit rows older than `audit_years` (what the timer worker does each night,
services/retention/job.py). `--dry-run` counts what would go, per program, and changes
nothing. `--program ID`: that program only; the audit log and the rejections of no
program are trimmed by a run of every program."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from services.cli_common import context_of, err, say

KINDS = {
    "identities": "identities",
    "addresses": "addresses",
    "index_entries": "blind-index entries",
    "reports": "reports (patient, scene, referral, clinical, tokens)",
    "notes": "visit notes",
    "contacts": "contacts",
    "texts": "texts (number, body)",
    "replies": "reply bodies",
    "phones": "phones",
    "text_phone_tokens": "texts' phone tokens",
    "reply_phone_tokens": "replies' phone tokens",
    "consent_phone_tokens": "consents' phone tokens",
    "consent_owners": "consents' person and case ids (the phone still used by another)",
    "reviews": "match reviews' evidence",
    "inbox": "gateway inbox rows",
    "orphan_reports": "reports of no person or case",
    "rejection_originals": "originals of rejected records",
}


def cmd_retention_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from services.retention.job import run_retention, subjects_total

    ctx = context_of(args)
    programs = ctx.programs.programs
    if args.program is not None:
        program = ctx.programs.get(args.program)
        if program is None:
            err(f"error: no program {args.program!r}; known: {', '.join(ctx.programs.ids)}")
            return 2
        programs = [program]
    total = subjects_total(ctx.store, programs)
    with tqdm(total=total, unit="subject", disable=None, file=sys.stderr) as bar:
        run = run_retention(
            ctx.store, programs, ctx.clock(), dry_run=args.dry_run,
            every_program=args.program is None, progress=bar.update,
        )  # fmt: skip
    for line in describe(run):
        say(line)
    return 0


def describe(run: Any) -> list[str]:
    """What the run removed (a dry run: would remove), in lines."""
    verb = "would be removed" if run.dry_run else "removed"
    lines = []
    for p in run.programs:
        lines.append(
            f"program {p.program_id}: personal data of {p.persons} person(s) and {p.cases} "
            f"case(s) without a person {verb} (closed before {p.cutoff:%Y-%m-%d}); kept: "
            f"{p.verdicts['open']} with a case open or a text pending, {p.verdicts['recent']} "
            f"closed since, {p.verdicts['done']} removed before"
        )
        for kind, n in sorted(p.removed.items(), key=_order):
            lines.append(f"  {n:>7}  {KINDS.get(kind, kind)}")
    if run.every_program and run.audit_cutoff is not None:
        lines.append(
            f"audit log: {run.audit_rows} row(s) older than {run.audit_cutoff:%Y-%m-%d} {verb}; "
            f"{run.unrouted_originals} original(s) of rejected records of no program {verb}"
        )
    if not run.dry_run and not run.file_settled:
        lines.append(
            "warning: the SQLite write-ahead log is not emptied yet (another connection "
            "holds a read); what was removed leaves its -wal file at the next checkpoint"
        )
    if not run.anything:
        lines.append("nothing new to remove")
    if run.dry_run:
        lines.append("dry run: nothing changed")
    return lines


def _order(item: tuple[str, int]) -> tuple[int, str]:
    order = list(KINDS)
    return (order.index(item[0]) if item[0] in order else len(order), item[0])


def add_retention_commands(sub: Any) -> None:
    retention = sub.add_parser(
        "retention", help="remove personal data and audit rows kept longer than allowed"
    ).add_subparsers(dest="retention", required=True)
    run = retention.add_parser(
        "run", help="remove now what the nightly run would (see [program.retention])"
    )
    run.add_argument("--program", help="one program only (else every program and the audit log)")
    run.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    run.set_defaults(func=cmd_retention_run)

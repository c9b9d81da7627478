"""`qrt agency create|list|revoke`: API keys of the HTTP ingest gateway (printed once,
kept as SHA-256 only), and which program each agency's events feed."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from services.cli_common import context_of
from services.ingest.gateway import create_key, list_keys, revoke_key


def _program_of(ctx: Any, agency_id: str) -> str | None:
    return next((p.id for p in ctx.programs.programs if agency_id in p.agency_ids), None)


def cmd_agency_create(args: argparse.Namespace) -> int:
    ctx = context_of(args)
    program = _program_of(ctx, args.agency_id)
    if program is None and not args.unlisted:
        print(
            f"error: no program lists agency {args.agency_id!r} (agency_ids in the programs "
            "file); its events would be routed by their county alone. Add it to a program, "
            "or pass --unlisted to make the key anyway",
            file=sys.stderr,
        )
        return 2
    key = create_key(ctx.store, args.agency_id, ctx.clock(), args.label)
    feeds = f"program {program}" if program else "no program: routed by the event's county"
    print(
        f"API key for agency {args.agency_id}, feeding {feeds} (shown once; only its hash is kept):"
    )
    print(key)
    return 0


def cmd_agency_list(args: argparse.Namespace) -> int:
    ctx = context_of(args)
    keys = list_keys(ctx.store)
    print(f"{len(keys)} key(s)")
    for k in keys:
        program = _program_of(ctx, k.agency_id)
        feeds = program or "(no program lists it: routed by county)"
        state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
        print(
            f"{k.key_id}  {k.agency_id:<16} {feeds:<24} {state:<18} "
            f"created {k.created_at:%Y-%m-%d}  {k.label or ''}"
        )
    return 0


def cmd_agency_revoke(args: argparse.Namespace) -> int:
    ctx = context_of(args)
    if not revoke_key(ctx.store, args.key_id, ctx.clock()):
        print(f"error: no active key {args.key_id!r} (see `qrt agency list`)", file=sys.stderr)
        return 1
    print(f"key {args.key_id} revoked (the gateway refuses it within a minute)")
    return 0


def add_agency_commands(sub: Any) -> None:
    agency = sub.add_parser("agency", help="publishers of the HTTP ingest gateway").add_subparsers(
        dest="agency", required=True
    )
    create = agency.add_parser("create", help="make an API key for an agency")
    create.add_argument("agency_id")
    create.add_argument("--label", help="who holds the key, e.g. the ePCR vendor")
    create.add_argument(
        "--unlisted", action="store_true", help="make it although no program lists the agency"
    )
    create.set_defaults(func=cmd_agency_create)
    listed = agency.add_parser("list", help="every key: agency, program fed, state")
    listed.set_defaults(func=cmd_agency_list)
    revoke = agency.add_parser("revoke", help="revoke a key by the id `list` shows")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=cmd_agency_revoke)

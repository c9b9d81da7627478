"""`qrt agency create AGENCY_ID`: an API key for the HTTP ingest gateway, printed once."""

from __future__ import annotations

import argparse
from typing import Any

from services.cli_cases import _ctx
from services.ingest.gateway import create_key


def cmd_agency_create(args: argparse.Namespace) -> int:
    ctx = _ctx(args)
    key = create_key(ctx.store, args.agency_id, ctx.clock(), args.label)
    print(f"API key for agency {args.agency_id} (shown once; only its hash is kept):")
    print(key)
    return 0


def add_agency_commands(sub: Any) -> None:
    agency = sub.add_parser("agency", help="publishers of the HTTP ingest gateway").add_subparsers(
        dest="agency", required=True
    )
    create = agency.add_parser("create", help="make an API key for an agency")
    create.add_argument("agency_id")
    create.add_argument("--label", help="who holds the key, e.g. the ePCR vendor")
    create.set_defaults(func=cmd_agency_create)

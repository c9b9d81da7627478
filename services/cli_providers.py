"""`qrt provider list|create-key|keys|revoke-key`: the program's treatment providers
(`[[program.provider]]`) and their keys, with which a provider reports on the referrals
made to it (`POST /api/v1/treatment-referrals/{id}/status`). A key is printed once; only
its SHA-256 is kept."""

from __future__ import annotations

import argparse
from typing import Any

from schemas.treatment import provider_in
from services.cli_common import context_of, err, program_of, say
from services.store.provider_keys import create_key, list_keys, revoke_key


def cmd_provider_list(args: argparse.Namespace) -> int:
    ctx = context_of(args)
    program = program_of(ctx, args.program)
    say(f"{len(program.providers)} provider(s) in {program.id}")
    for p in program.providers:
        say(f"{p.id:<24} {p.kind.value:<17} {p.name}")
    return 0


def cmd_provider_create_key(args: argparse.Namespace) -> int:
    ctx = context_of(args)
    program = program_of(ctx, args.program)
    provider = provider_in(program.providers, args.provider_id)
    if provider is None:
        known = ", ".join(p.id for p in program.providers) or "none"
        err(
            f"error: no provider {args.provider_id!r} in {program.id} ([[program.provider]] "
            f"in the programs file); its providers: {known}"
        )
        return 2
    key = create_key(
        ctx.store, program.id, provider.id, now=ctx.clock(), actor="cli", label=args.label
    )
    say(f"key for provider {provider.id} ({provider.name}) of {program.id} "
        "(shown once; only its hash is kept):")  # fmt: skip
    say(key)
    return 0


def cmd_provider_keys(args: argparse.Namespace) -> int:
    ctx = context_of(args)
    keys = list_keys(ctx.store, args.program)
    say(f"{len(keys)} key(s)")
    for k in keys:
        state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
        say(f"{k.key_id}  {k.program_id:<16} {k.provider_id:<24} {state:<18} "
            f"created {k.created_at:%Y-%m-%d}  {k.label or ''}")  # fmt: skip
    return 0


def cmd_provider_revoke_key(args: argparse.Namespace) -> int:
    ctx = context_of(args)
    done = revoke_key(ctx.store, args.key_id, now=ctx.clock(), actor="cli")
    if done is None:
        err(f"error: no active key {args.key_id!r} (see `qrt provider keys`)")
        return 1
    say(f"key {done.key_id} of provider {done.provider_id} ({done.program_id}) revoked")
    return 0


def add_provider_commands(sub: Any) -> None:
    provider = sub.add_parser(
        "provider", help="treatment providers and the keys they report back with"
    ).add_subparsers(dest="provider", required=True)
    listed = provider.add_parser("list", help="the providers of a program")
    listed.add_argument("--program", required=True)
    listed.set_defaults(func=cmd_provider_list)
    create = provider.add_parser("create-key", help="make a key for a provider (shown once)")
    create.add_argument("provider_id")
    create.add_argument("--program", required=True)
    create.add_argument("--label", help="who holds the key, e.g. the clinic's system")
    create.set_defaults(func=cmd_provider_create_key)
    keys = provider.add_parser("keys", help="every provider key: provider, state")
    keys.add_argument("--program")
    keys.set_defaults(func=cmd_provider_keys)
    revoke = provider.add_parser("revoke-key", help="revoke a key by the id `keys` shows")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=cmd_provider_revoke_key)

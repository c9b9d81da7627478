"""`qrt user create|list|role|disable|password|token|tokens|revoke-token|end-sessions`:
accounts of the queue API and pages. A new password ends every session and token.

A password is read from standard input with `--password-stdin`, else generated
and printed once; a token is printed once. Only hashes are kept."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from typing import Any

from schemas.accounts import ALL_PROGRAMS, Membership, Role
from services.cli_common import context_of


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    from services.accounts.passwords import new_password

    return new_password(), True


def _memberships(args: argparse.Namespace, ctx: Any) -> list[Membership]:
    role = Role(args.role)
    known = set(ctx.programs.ids)
    for program_id in args.program:
        if program_id != ALL_PROGRAMS and program_id not in known:
            raise SystemExit(
                f"error: no program {program_id!r} (known: {', '.join(sorted(known))})"
            )
    return [Membership(program_id=p, role=role) for p in args.program]


def cmd_user_create(args: argparse.Namespace) -> int:
    from services.accounts.users import AccountError, create_user

    ctx = context_of(args)
    password, generated = _password(args)
    try:
        user = create_user(
            ctx.store, args.username, password, _memberships(args, ctx),
            actor="cli", now=ctx.clock(),
        )  # fmt: skip
    except (AccountError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from exc
    roles = ", ".join(f"{m.role.value} in {m.program_id}" for m in user.memberships)
    print(f"user {user.username} created ({roles})")
    if generated:
        print(f"password (shown once): {password}")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    from services.accounts.users import list_users

    for user in list_users(context_of(args).store):
        roles = ", ".join(f"{m.program_id}:{m.role.value}" for m in user.memberships)
        print(f"{user.username:24} {roles}{'  (disabled)' if user.disabled else ''}")
    return 0


def cmd_user_role(args: argparse.Namespace) -> int:
    from services.accounts.users import AccountError, set_role

    ctx = context_of(args)
    try:
        for m in _memberships(args, ctx):
            set_role(ctx.store, args.username, m, actor="cli", now=ctx.clock())
    except AccountError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(f"{args.username}: {args.role} in {', '.join(args.program)}")
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    from services.accounts.users import AccountError, disable_user

    ctx = context_of(args)
    try:
        disable_user(ctx.store, args.username, actor="cli", now=ctx.clock())
    except AccountError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(f"{args.username} disabled: tokens and sessions no longer work")
    return 0


def cmd_user_password(args: argparse.Namespace) -> int:
    from services.accounts.users import AccountError, set_password

    ctx = context_of(args)
    password, generated = _password(args)
    try:
        set_password(ctx.store, args.username, password, actor="cli", now=ctx.clock())
    except (AccountError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(f"password of {args.username} set; every session and token of theirs ended")
    if generated:
        print(f"password (shown once): {password}")
    return 0


def cmd_user_token(args: argparse.Namespace) -> int:
    from services.accounts.credentials import issue_token
    from services.accounts.users import principal_of
    from services.store.user_reads import user_id_of

    ctx = context_of(args)
    with ctx.store.engine.connect() as conn:
        user_id = user_id_of(conn, args.username)
        principal = principal_of(conn, user_id) if user_id else None
    if principal is None:
        raise SystemExit(f"error: no active user {args.username!r}")
    issued = issue_token(
        ctx.store, principal, label=args.label, lifetime=timedelta(days=args.days),
        now=ctx.clock(),
    )  # fmt: skip
    print(f"bearer token for {args.username}, valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC")
    print(issued.access_token)
    return 0


def _user_id(ctx: Any, username: str) -> str:
    from services.store.user_reads import user_id_of

    with ctx.store.engine.connect() as conn:
        found = user_id_of(conn, username)
    if found is None:
        raise SystemExit(f"error: no user {username!r}")
    return found


def cmd_user_tokens(args: argparse.Namespace) -> int:
    from services.accounts.credentials import tokens_of

    ctx = context_of(args)
    found = tokens_of(ctx.store, _user_id(ctx, args.username))
    print(f"{len(found)} token(s) of {args.username}")
    for t in found:
        used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
        state = (
            f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else f"until {t.expires_at:%Y-%m-%d}"
        )
        label = t.label or "-"
        print(f"{t.id}  {label:<20} created {t.created_at:%Y-%m-%d}  last used {used}  {state}")
    return 0


def cmd_user_revoke_token(args: argparse.Namespace) -> int:
    from services.accounts.credentials import revoke_token

    ctx = context_of(args)
    user_id = _user_id(ctx, args.username)
    if not revoke_token(ctx.store, user_id, args.token_id, actor="cli", now=ctx.clock()):
        raise SystemExit(f"error: {args.username} has no active token {args.token_id!r}")
    print(f"token {args.token_id} of {args.username} revoked")
    return 0


def cmd_user_end_sessions(args: argparse.Namespace) -> int:
    from services.accounts.users import AccountError, end_sessions

    ctx = context_of(args)
    try:
        ended = end_sessions(ctx.store, args.username, actor="cli", now=ctx.clock())
    except AccountError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(
        f"{args.username}: {ended['sessions_ended']} session(s) ended, "
        f"{ended['tokens_revoked']} token(s) revoked"
    )
    return 0


def add_user_commands(sub: Any) -> None:
    user = sub.add_parser("user", help="accounts of the work queue").add_subparsers(
        dest="user", required=True
    )
    roles = [r.value for r in Role]

    def membership_args(p: Any) -> None:
        p.add_argument("username")
        p.add_argument("--role", required=True, choices=roles)
        p.add_argument(
            "--program", action="append", required=True, metavar="PROGRAM_ID",
            help='a program id (repeat for several); "*" = every program, admins only',
        )  # fmt: skip

    create = user.add_parser("create", help="make a user (prints a generated password)")
    membership_args(create)
    create.add_argument("--password-stdin", action="store_true", help="read the password")
    create.set_defaults(func=cmd_user_create)
    user.add_parser("list", help="users and their roles").set_defaults(func=cmd_user_list)
    role = user.add_parser("role", help="set a user's role in programs")
    membership_args(role)
    role.set_defaults(func=cmd_user_role)
    disable = user.add_parser("disable", help="stop a user signing in")
    disable.add_argument("username")
    disable.set_defaults(func=cmd_user_disable)
    password = user.add_parser("password", help="set a new password")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true")
    password.set_defaults(func=cmd_user_password)
    token = user.add_parser("token", help="a bearer token for the API (printed once)")
    token.add_argument("username")
    token.add_argument("--days", type=float, default=90.0)
    token.add_argument("--label", help="where the token is used")
    token.set_defaults(func=cmd_user_token)
    tokens = user.add_parser("tokens", help="a user's tokens: id, label, created, last used")
    tokens.add_argument("username")
    tokens.set_defaults(func=cmd_user_tokens)
    revoke = user.add_parser("revoke-token", help="revoke one token by the id `tokens` shows")
    revoke.add_argument("username")
    revoke.add_argument("token_id")
    revoke.set_defaults(func=cmd_user_revoke_token)
    end = user.add_parser("end-sessions", help="end every page session and token of a user")
    end.add_argument("username")
    end.set_defaults(func=cmd_user_end_sessions)

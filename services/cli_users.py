"""`qrt user create|list|role|disable|password|token`: accounts of the queue API and pages.

A password is read from standard input with `--password-stdin`, else generated
and printed once; a token is printed once. Only hashes are kept."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from typing import Any

from schemas.accounts import ALL_PROGRAMS, Membership, Role
from services.cli_cases import _ctx


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

    ctx = _ctx(args)
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

    for user in list_users(_ctx(args).store):
        roles = ", ".join(f"{m.program_id}:{m.role.value}" for m in user.memberships)
        print(f"{user.username:24} {roles}{'  (disabled)' if user.disabled else ''}")
    return 0


def cmd_user_role(args: argparse.Namespace) -> int:
    from services.accounts.users import AccountError, set_role

    ctx = _ctx(args)
    try:
        for m in _memberships(args, ctx):
            set_role(ctx.store, args.username, m, actor="cli", now=ctx.clock())
    except AccountError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(f"{args.username}: {args.role} in {', '.join(args.program)}")
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    from services.accounts.users import AccountError, disable_user

    ctx = _ctx(args)
    try:
        disable_user(ctx.store, args.username, actor="cli", now=ctx.clock())
    except AccountError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(f"{args.username} disabled: tokens and sessions no longer work")
    return 0


def cmd_user_password(args: argparse.Namespace) -> int:
    from services.accounts.users import AccountError, set_password

    ctx = _ctx(args)
    password, generated = _password(args)
    try:
        set_password(ctx.store, args.username, password, actor="cli", now=ctx.clock())
    except (AccountError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(f"password of {args.username} set")
    if generated:
        print(f"password (shown once): {password}")
    return 0


def cmd_user_token(args: argparse.Namespace) -> int:
    from services.accounts.credentials import issue_token
    from services.accounts.users import principal_of, user_id_of

    ctx = _ctx(args)
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

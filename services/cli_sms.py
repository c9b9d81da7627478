"""`qrt sms ...`: the text outbox and consent, from the command line.

Phone numbers are shown masked (last two digits) and never logged."""

from __future__ import annotations

import argparse
from typing import Any

from services.cli_common import context_of, program_of
from services.sms import consent, consent_changes
from services.sms.text_reads import latest_texts
from services.sms.texts import to_aad


def _mask(phone: str) -> str:
    return "•" * max(0, len(phone) - 2) + phone[-2:]


def cmd_sms_outbox(args: argparse.Namespace) -> int:
    ctx = context_of(args)
    rows = latest_texts(ctx.store, args.program, args.state, args.limit)
    if not rows:
        print("no texts")
        return 0
    for r in rows:
        to = ctx.cipher.open(r.to_sealed, to_aad(r.idempotency_key))
        when = (r.sent_at or r.send_after).isoformat(timespec="minutes")
        print(
            f"#{r.id} {r.state:<11} {when} {_mask(to)} case {r.case_id} {r.kind} [{r.language}]"
            + (f" sid {r.twilio_sid}" if r.twilio_sid else "")
            + (f" ({r.reason})" if r.reason else "")
        )
        print(f"    {r.body}")
    return 0


def _phone_token(ctx: Any, raw: str) -> str:
    phone = consent.e164(raw)
    if phone is None:
        raise SystemExit(f"error: {raw!r} is not a phone number")
    return consent.phone_token(ctx.cipher, phone)


def cmd_sms_consent(args: argparse.Namespace) -> int:
    ctx = context_of(args)
    program = program_of(ctx, args.program)
    token = _phone_token(ctx, args.phone)
    if args.action == "revoke":
        cancelled = consent_changes.revoke_for_coordinator(
            ctx.store, program.id, token, ctx.clock()
        )
        print(f"consent revoked; {cancelled} queued text(s) cancelled")
    else:
        consent_changes.grant_at_visit(ctx.store, program.id, token, ctx.clock())
        print("consent recorded (source: visit); texts follow the case's next change")
    return 0


def add_sms_commands(sub: Any) -> None:
    sms = sub.add_parser("sms", help="text check-ins").add_subparsers(dest="sms", required=True)
    outbox = sms.add_parser("outbox", help="list texts: queued, sent, delivered, cancelled")
    outbox.add_argument("--program")
    outbox.add_argument("--state")
    outbox.add_argument("--limit", type=int, default=50)
    outbox.set_defaults(func=cmd_sms_outbox)
    for action, text in (
        ("grant", "record a client's consent given at a visit"),
        ("revoke", "withdraw consent now (a coordinator's decision)"),
    ):
        cmd = sms.add_parser(action, help=text)
        cmd.add_argument("--program", required=True)
        cmd.add_argument("--phone", required=True)
        cmd.set_defaults(func=cmd_sms_consent, action=action)

"""`qrt sms ...`: the text outbox and consent, from the command line.

Phone numbers are shown masked (last two digits) and never logged."""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import select

from schemas.sms import ConsentSource
from services.cli_cases import _ctx, _program
from services.sms import consent
from services.sms.texts import revoke, to_aad
from services.store.tables import sms_texts


def _mask(phone: str) -> str:
    return "•" * max(0, len(phone) - 2) + phone[-2:]


def cmd_sms_outbox(args: argparse.Namespace) -> int:
    ctx = _ctx(args)
    query = select(sms_texts).order_by(sms_texts.c.send_after.desc(), sms_texts.c.id.desc())
    if args.program:
        query = query.where(sms_texts.c.program_id == args.program)
    if args.state:
        query = query.where(sms_texts.c.state == args.state)
    with ctx.store.engine.connect() as conn:
        rows = conn.execute(query.limit(args.limit)).all()
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
    ctx = _ctx(args)
    program = _program(ctx, args.program)
    token = _phone_token(ctx, args.phone)
    now = ctx.clock()
    with ctx.store.transaction() as conn:
        if args.action == "revoke":
            cancelled = revoke(conn, [program.id], token, ConsentSource.COORDINATOR, now)
            print(f"consent revoked; {cancelled} queued text(s) cancelled")
        else:
            consent.record(
                conn, [consent.consent_row(program.id, token, True, ConsentSource.VISIT, now)]
            )
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

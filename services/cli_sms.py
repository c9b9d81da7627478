"""`qrt sms ...`: the text outbox and consent, from the command line, and a text from a
client as Twilio would post it (`qrt sms inbound`), to try STOP, START, HELP and
replies without Twilio.

Phone numbers are shown masked (last two digits) and never logged."""

from __future__ import annotations

import argparse
import secrets
from typing import Any

from services.cli_common import context_of, program_of
from services.sms import consent, consent_changes
from services.sms.inbound import Inbound, reply_from_form
from services.sms.keywords import OPT_OUT_TYPES, KeywordFamily
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
        to = ctx.cipher.open(r.to_sealed, to_aad(r.idempotency_key)) if r.to_sealed else ""
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


def inbound_form(ctx: Any, sender: str, body: str, opt_out_type: str | None) -> dict[str, str]:
    """The form fields of Twilio's inbound-message webhook for this text."""
    settings = ctx.settings
    form = {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": settings.twilio_account_sid or "AC" + "0" * 32,
        "From": sender,
        "To": settings.twilio_from_number or "+15005550006",
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    if settings.twilio_messaging_service_sid:
        form["MessagingServiceSid"] = settings.twilio_messaging_service_sid
    if opt_out_type:
        form["OptOutType"] = opt_out_type
    return form


def _said(done: Inbound) -> str:
    if done.family is KeywordFamily.OPT_OUT:
        return (f"opt-out: consent withdrawn in {done.programs} program(s); "
                f"{done.texts} queued text(s) cancelled")  # fmt: skip
    if done.family is KeywordFamily.OPT_IN:
        return (f"opt-in: consent given again in {done.programs} program(s); "
                f"{done.texts} text(s) back in the queue")  # fmt: skip
    if done.family is KeywordFamily.HELP:
        return "help: recorded; Twilio answers HELP itself, so nothing is sent from here"
    if done.case_id is None:
        return "a reply: kept (sealed); no case has texted this number"
    return f"a reply: kept (sealed) on case {done.case_id[:8]}, flagged for a call-back"


def cmd_sms_inbound(args: argparse.Namespace) -> int:
    """Through `reply_from_form`, as the signed webhook `POST /twilio/inbound` does."""
    ctx = context_of(args)
    if consent.e164(args.sender) is None:
        raise SystemExit(f"error: --from {args.sender!r} is not a phone number")
    form = inbound_form(ctx, args.sender, args.body, args.opt_out_type)
    done = reply_from_form(ctx.store, ctx.cipher, form, ctx.clock())
    print(f"{form['MessageSid']} from {_mask(args.sender)}: {_said(done)}")
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
    inbound = sms.add_parser(
        "inbound", help="a text from a client, handled as Twilio's signed webhook would be"
    )
    inbound.add_argument("--from", dest="sender", required=True, metavar="PHONE")
    inbound.add_argument(
        "--opt-out-type",
        type=str.upper,
        choices=sorted(OPT_OUT_TYPES),
        help="what Twilio's Advanced Opt-Out says the text is (its OptOutType)",
    )
    inbound.add_argument("body", metavar="TEXT")
    inbound.set_defaults(func=cmd_sms_inbound)

"""`qrt referral create`: a referral from the command line, as the program's own staff.

Screened here as the intake worker will screen it (a refusal is said at once, with each
field's problem, and nothing is published), published to `referral.v1` with acks=all,
and its receipt audited. Prints the referral id; the case appears in the queue once the
workers have it. Personal data given on the command line is never printed back."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from schemas.cases import ReferralKind
from schemas.intake import Origin, RejectedEvent
from schemas.referral_event import ReferralBody, Urgency
from services.cli_common import context_of, program_of

ORIGIN = Origin(topic="cli", partition=0, offset=0)
PERSON = ("first_name", "last_name", "dob", "phone", "language", "where")
ADDRESS = ("address", "city", "state", "zip")
YES_NO = {"yes": True, "no": False}


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _body(args: argparse.Namespace) -> dict[str, Any]:
    address = {k: getattr(args, k) for k in ADDRESS if getattr(args, k)}
    person = {k: getattr(args, k) for k in PERSON if getattr(args, k)}
    referrer = {
        k: getattr(args, f"referrer_{k}")
        for k in ("name", "relation", "phone")
        if getattr(args, f"referrer_{k}")
    }
    consent = {k: YES_NO[v] for k in ("visit", "sms") if (v := getattr(args, f"consent_{k}"))}
    body: dict[str, Any] = {
        "kind": args.kind,
        "person": {**person, **({"address": address} if address else {})},
        "consent": consent,
    }
    for name, value in (
        ("referral_id", args.id), ("referred_at", args.at), ("urgency", args.urgency),
        ("notes", args.notes), ("referrer", referrer or None),
    ):  # fmt: skip
        if value:
            body[name] = value
    return body


def _refusal(rejected: RejectedEvent) -> int:
    _err(f"error: {rejected.reason.value}: {rejected.detail}")
    for e in rejected.errors:
        _err(f"  {e.field}: {e.message}")
    return 2


def _check_time(text: str | None) -> None:
    """`--at` is ISO-8601 with an offset, or not given."""
    if text is None:
        return
    try:
        at: datetime | None = datetime.fromisoformat(text)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise SystemExit(
            "error: --at needs ISO-8601 with a UTC offset, e.g. 2026-11-22T14:30-05:00"
        )


def cmd_referral_create(args: argparse.Namespace) -> int:
    from kafka.errors import KafkaError

    from services.bootstrap import producer_for
    from services.ingest.referral_intake import Sender, record_received, referral_of, screened
    from services.topics import REFERRALS

    ctx = context_of(args)
    program = program_of(ctx, args.program)
    _check_time(args.at)
    try:
        body = ReferralBody.model_validate(_body(args))
    except ValidationError as exc:
        for e in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(p) for p in e["loc"]) or "referral"
            _err(f"error: {where}: {e['msg'].removeprefix('Value error, ')}")
        return 2
    now, sender = ctx.clock(), Sender(actor=args.by)
    raw = referral_of(body, program.id, sender, now)
    found = screened(raw, ORIGIN, ctx.programs, ctx.rules, now)
    if isinstance(found, RejectedEvent):
        return _refusal(found)
    producer = producer_for(ctx.settings)
    try:
        sent = producer.send(
            ctx.settings.topic(REFERRALS), key=found.referral_id.encode(), value=raw
        )
        sent.get(timeout=30)  # acks=all: the broker has it
    except KafkaError as exc:
        _err(f"error: the broker did not take the referral ({exc}); send it again (--id "
             f"{found.referral_id} keeps it one referral)")  # fmt: skip
        return 1
    finally:
        producer.close()
    record_received(ctx.store, found, sender, ctx.clock())
    print(f"referral {found.referral_id} sent to program {program.id}")
    return 0


def add_referral_commands(sub: Any) -> None:
    referral = sub.add_parser("referral", help="referrals: someone asks the team to reach a person")
    verbs = referral.add_subparsers(dest="referral", required=True)
    create = verbs.add_parser(
        "create",
        help="send a referral as the program's staff (give a phone, a street address, or "
        "a name with a place)",
    )
    create.add_argument("--program", required=True)
    create.add_argument("--kind", required=True, choices=[k.value for k in ReferralKind])
    create.add_argument("--urgency", choices=[u.value for u in Urgency])
    create.add_argument("--at", help="when it was made, ISO-8601 with an offset (default: now)")
    create.add_argument("--id", help="the referral's id (default: a new one); the same id again "
                        "is a duplicate")  # fmt: skip
    for name in (*PERSON, *ADDRESS):
        create.add_argument(f"--{name.replace('_', '-')}", dest=name, help=f"the person's {name}")
    for name in ("name", "relation", "phone"):
        create.add_argument(
            f"--referrer-{name}", dest=f"referrer_{name}", help=f"who referred: {name}"
        )
    for name in ("visit", "sms"):
        create.add_argument(
            f"--consent-{name}", dest=f"consent_{name}", choices=sorted(YES_NO),
            help=f"the person's own consent to a {'visit' if name == 'visit' else 'text'}",
        )  # fmt: skip
    create.add_argument("--notes", help="sealed; shown only to roles with clinical sight")
    create.add_argument("--by", default="cli", help="who records it (audit log)")
    create.set_defaults(func=cmd_referral_create)

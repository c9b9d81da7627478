"""`qrt case ...`, `qrt review ...`, `qrt keys ...`: recording visits, deciding
person matches, managing keys, from the command line. Personal data is never
printed: cases and persons are shown by id."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from schemas.cases import Referral, VisitResult
from services.cli_common import case_id_of, context_of, program_of


def _at(text: str | None, now: datetime) -> datetime:
    if text is None:
        return now
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise SystemExit("error: --at needs a UTC offset, e.g. 2026-11-22T14:30-05:00")
    return value


def _event_ref(text: str) -> tuple[str, str, str]:
    parts = text.split(":", 2)
    if len(parts) != 3:
        raise SystemExit("error: name an event as SOURCE:AGENCY_ID:EVENT_ID")
    return parts[0], parts[1], parts[2]


def _team_of(ctx: Any, case_id: str, team: str | None) -> str | None:
    """`team` if the case's program has it (the API's rule: a team of the program, or
    none); else a refusal naming the program's teams."""
    from services.store.case_records import load_case

    if team is None:
        return None
    with ctx.store.engine.connect() as conn:
        row = load_case(conn, case_id)
    program_id = row.program_id if row is not None else "?"
    program = ctx.programs.get(program_id)
    teams = sorted(t.id for t in program.teams) if program else []
    if team not in teams:
        raise SystemExit(
            f"error: no team {team!r} in {program_id}; teams: {', '.join(teams) or 'none'}"
        )
    return team


def cmd_case_attempt(args: argparse.Namespace) -> int:
    from services.cases.visits import record_attempt

    ctx = context_of(args)
    case_id = case_id_of(ctx, args.case_id)
    team = _team_of(ctx, case_id, args.team)
    now = ctx.clock()
    done = record_attempt(
        ctx.store,
        case_id,
        result=VisitResult(args.result),
        at=_at(args.at, now),
        team_id=team,
        referral=Referral(args.referral) if args.referral else None,
        actor=args.by,
        now=now,
    )
    print(f"attempt {done.attempt_no} recorded on case {done.case_id}")
    return 0


def cmd_case_outcome(args: argparse.Namespace) -> int:
    from services.cases.visits import record_outcome
    from services.store.case_records import load_case

    ctx = context_of(args)
    case_id = case_id_of(ctx, args.case_id)
    with ctx.store.engine.connect() as conn:
        row = load_case(conn, case_id)
    program = ctx.programs.get(row.program_id) if row is not None else None
    record_outcome(
        ctx.store,
        case_id,
        outcome=VisitResult(args.outcome),
        referral=Referral(args.referral) if args.referral else None,
        actor=args.by,
        now=ctx.clock(),
        tier_rules=program.tiers if program else _default_tiers(),
    )
    print(f"case {case_id} closed: {args.outcome}")
    return 0


def _default_tiers() -> Any:
    from services.cases.tiering import OtherHistoryTiers

    return OtherHistoryTiers()


def cmd_review_list(args: argparse.Namespace) -> int:
    from services.cases.reviews import open_reviews

    ctx = context_of(args)
    program_of(ctx, args.program)
    items = open_reviews(ctx.store, args.program)
    print(f"{len(items)} open review(s) in program {args.program}")
    for r in items:
        print(
            f"#{r.id}  case {r.case_id}  person {r.person_id} ~ {r.candidate_person_id}  "
            f"score {r.score:.2f}  [{r.evidence}]"
        )
    return 0


def cmd_review_decide(args: argparse.Namespace) -> int:
    from services.cases.reviews import keep_apart, link_review, program_of_review

    ctx = context_of(args)
    if args.decision == "link":
        program_id = program_of_review(ctx.store, args.review_id)
        program = ctx.programs.get(program_id) if program_id else None
        if program is None:
            print(f"error: review {args.review_id}: no such review, or its program is not "
                  "in the programs file", file=sys.stderr)  # fmt: skip
            return 2
        link_review(ctx.store, args.review_id, actor=args.by, now=ctx.clock(), program=program)
        print(f"review {args.review_id}: linked")
    else:
        keep_apart(ctx.store, args.review_id, actor=args.by, now=ctx.clock())
        print(f"review {args.review_id}: kept apart")
    return 0


def cmd_event_unlink(args: argparse.Namespace) -> int:
    from services.cases.reviews import unlink_case, unlink_person

    ctx = context_of(args)
    program = program_of(ctx, args.program)
    source, agency, event_id = _event_ref(args.event)
    if args.what == "case":
        new = unlink_case(
            ctx.store, program, source, agency, event_id, actor=args.by, now=ctx.clock()
        )
        print(f"event is its own case again: {new}")
    else:
        new = unlink_person(
            ctx.store, ctx.cipher, program, source, agency, event_id, actor=args.by,
            now=ctx.clock(),
        )  # fmt: skip
        print(f"event is its own person again: {new}")
    return 0


def cmd_keys_new(args: argparse.Namespace) -> int:
    import base64
    import secrets

    from services.crypto.keys import new_key_text

    print(f"QRT_DATA_KEYS={new_key_text()}")
    print(f"QRT_INDEX_KEY={base64.b64encode(secrets.token_bytes(32)).decode()}")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from services.crypto.rotation import rotate

    ctx = context_of(args)
    report = rotate(ctx.store, ctx.cipher, reindex=args.reindex, say=print)
    print(f"done: {report.resealed} re-sealed, {report.reindexed_persons} re-indexed")
    return 0


def add_commands(sub: Any) -> None:
    case = sub.add_parser("case", help="record visit attempts and outcomes").add_subparsers(
        dest="case_command", required=True
    )
    attempt = case.add_parser("attempt", help="record one visit attempt")
    attempt.add_argument("case_id", help="the case id, or a unique start of it (6+ characters)")
    attempt.add_argument("--result", required=True, choices=[r.value for r in VisitResult])
    attempt.add_argument("--team", help="a team of the case's program")
    attempt.add_argument("--at", help="when (ISO-8601 with offset); default now")
    attempt.add_argument("--referral", choices=[r.value for r in Referral])
    attempt.add_argument("--by", default="cli", help="who records it (audit log)")
    attempt.set_defaults(func=cmd_case_attempt)
    outcome = case.add_parser("outcome", help="close a case with its outcome")
    outcome.add_argument("case_id", help="the case id, or a unique start of it (6+ characters)")
    outcome.add_argument("--outcome", required=True, choices=[r.value for r in VisitResult])
    outcome.add_argument("--referral", choices=[r.value for r in Referral])
    outcome.add_argument("--by", default="cli")
    outcome.set_defaults(func=cmd_case_outcome)

    review = sub.add_parser("review", help="uncertain person matches").add_subparsers(
        dest="review_command", required=True
    )
    listing = review.add_parser("list", help="open reviews of a program")
    listing.add_argument("--program", required=True)
    listing.set_defaults(func=cmd_review_list)
    for decision in ("link", "keep-apart"):
        decide = review.add_parser(decision, help=f"{decision} the two persons of a review")
        decide.add_argument("review_id", type=int)
        decide.add_argument("--by", default="cli")
        decide.set_defaults(func=cmd_review_decide, decision=decision)

    event = sub.add_parser("event", help="undo links of an event").add_subparsers(
        dest="event_command", required=True
    )
    for what in ("case", "person"):
        unlink = event.add_parser(f"unlink-{what}", help=f"make the event its own {what} again")
        unlink.add_argument("event", help="SOURCE:AGENCY_ID:EVENT_ID")
        unlink.add_argument("--program", required=True)
        unlink.add_argument("--by", default="cli")
        unlink.set_defaults(func=cmd_event_unlink, what=what)

    keys = sub.add_parser("keys", help="encryption keys").add_subparsers(
        dest="keys_command", required=True
    )
    keys.add_parser("new", help="print new QRT_DATA_KEYS / QRT_INDEX_KEY values").set_defaults(
        func=cmd_keys_new
    )
    rotate_ = keys.add_parser("rotate", help="re-seal everything under the primary data key")
    rotate_.add_argument("--reindex", action="store_true", help="also rebuild blind indexes")
    rotate_.set_defaults(func=cmd_keys_rotate)

"""`qrt`: the one command line of the product."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from services.cli_common import err, say, settings_of


def cmd_up(args: argparse.Namespace) -> int:
    """The settings are checked here (refused ones said before anything starts); then
    this process becomes the supervisor (services/runtime/supervisor.py), a fresh
    interpreter that holds only what supervising needs for as long as the stack runs."""
    settings = settings_of(args)
    argv = [sys.executable, "-m", "services.runtime.supervisor", "--api-port", str(args.api_port)]
    if args.separate_workers or settings.up_workers == "separate":
        argv.append("--separate-workers")
    sys.stdout.flush()
    sys.stderr.flush()
    env = {**os.environ, "QRT_DATA_DIR": str(settings.data_dir)}
    os.execve(sys.executable, argv, env)  # noqa: S606 (argv is ours, no shell)


def cmd_worker(args: argparse.Namespace) -> int:
    if args.role == "all":
        from workers.combined import run_all_workers

        return run_all_workers(settings_of(args))
    if args.role == "timers":
        from workers.timers import run_timer_worker

        return run_timer_worker(settings_of(args))
    from workers.run import run_worker

    return run_worker(args.role, settings_of(args))


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from services.api.app import create_app
    from services.runtime.recent_errors import keep_recent_errors

    settings = settings_of(args)
    keep_recent_errors(settings, "api")
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.api_host,
        port=args.port if args.port is not None else settings.api_port,
        log_level=settings.log_level.lower(),
        # live pages hold a stream open; browsers reconnect (Last-Event-ID) after a restart
        timeout_graceful_shutdown=3,
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from services.bootstrap import engine_for
    from services.store.database import current_revision, migrate

    settings = settings_of(args)
    engine = engine_for(settings)
    migrate(engine)
    say(f"schema at revision {current_revision(engine)}")
    engine.dispose()
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from services.runtime.run_files import bootstrap_servers
    from services.topics import ensure_topics

    settings = settings_of(args)
    created = ensure_topics(settings, bootstrap_servers(settings))
    say(f"created: {', '.join(created)}" if created else "all topics exist")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from services.bootstrap import producer_for
    from services.clock import shifted_clock
    from services.ingest.publisher import publish_lines
    from services.simulation.synthetic import synthetic_events

    settings = settings_of(args)
    producer = producer_for(settings)
    interval = 1.0 / args.rate
    sent = failed = 0
    start = time.monotonic()
    with tqdm(total=args.count, unit="event", file=sys.stderr) as bar:
        for n, event in enumerate(
            synthetic_events(args.count, shifted_clock(settings.clock_offset_seconds)(), args.seed)
        ):
            lag = start + n * interval - time.monotonic()
            if lag > 0:
                time.sleep(lag)
            report = publish_lines(producer, settings, [json.dumps(event).encode()], timeout_s=10)
            sent += report.sent
            failed += len(report.failed)
            bar.update(1)
    producer.close()
    took = time.monotonic() - start
    say(f"published {sent} synthetic event(s) in {took:.1f} s; {failed} failed")
    return 1 if failed else 0


def cmd_queue(args: argparse.Namespace) -> int:
    from services.bootstrap import bootstrap

    if args.limit < 1:
        err("error: --limit must be at least 1")
        return 2
    ctx = bootstrap(settings_of(args))
    if ctx.programs.get(args.program) is None:
        err(f"error: no program {args.program!r}; known: {', '.join(ctx.programs.ids)}")
        return 2
    from services.store.queue_reads import QueueFilters, queue_page

    with ctx.store.engine.connect() as conn:
        found = queue_page(conn, args.program, QueueFilters(), limit=args.limit, now=ctx.clock())
    items = found.items
    if args.json:
        say(json.dumps([i.model_dump(mode="json") for i in items], indent=2))
        return 0
    shown = f"{len(items)} of {found.total}" if len(items) < found.total else f"{found.total}"
    say(f"{shown} open case(s) in program {args.program}")
    say(f"{'tier':<10} {'case':<36} {'window opens (UTC)':<17} {'due (UTC)':<17} events")
    for i in items:
        refs = ", ".join(
            f"{e.source}:{e.agency_id}:{e.incident_number or e.event_id}" for e in i.events
        )
        say(
            f"{i.tier:<10} {i.case_id:<36} {i.window_opens_at:%Y-%m-%d %H:%M} "
            f"{i.window_due_at:%Y-%m-%d %H:%M} {refs}"
        )
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from schemas.overdose_event import OverdoseEvent
    from schemas.referral_event import ReferralEvent

    model = ReferralEvent if args.name == "referral-event" else OverdoseEvent
    say(json.dumps(model.model_json_schema(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qrt", description="QRT post-overdose follow-up")
    parser.add_argument(
        "--data-dir",
        help="where the SQLite file and run files live (default: $QRT_DATA_DIR or ./.qrt)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_stack_commands(sub)
    _add_event_commands(sub)

    from services.cli_cases import add_commands

    add_commands(sub)

    from services.cli_sms import add_sms_commands

    add_sms_commands(sub)

    from services.cli_agency import add_agency_commands

    add_agency_commands(sub)

    from services.cli_users import add_user_commands

    add_user_commands(sub)

    from services.cli_status import add_status_command

    add_status_command(sub)

    from services.cli_rejections import add_rejections_command

    add_rejections_command(sub)

    from services.cli_alerts import add_alerts_command

    add_alerts_command(sub)

    from services.cli_report import add_report_command

    add_report_command(sub)

    from services.cli_referrals import add_referral_commands

    add_referral_commands(sub)

    from services.cli_providers import add_provider_commands

    add_provider_commands(sub)

    from services.cli_retention import add_retention_commands

    add_retention_commands(sub)

    schema = sub.add_parser("schema", help="print a JSON Schema")
    schema.add_argument("name", choices=["overdose-event", "referral-event"])
    schema.set_defaults(func=cmd_schema)
    return parser


def _add_stack_commands(sub: Any) -> None:
    """up, worker, api, migrate, topics: running the stack."""
    up = sub.add_parser("up", help="run the whole stack in the foreground")
    up.add_argument("--api-port", type=int, default=8000, help="0 picks a free port")
    up.add_argument(
        "--data-dir",
        dest="sub_data_dir",
        metavar="DIR",
        help="where the SQLite file, logs and run files live",
    )
    up.add_argument(
        "--separate-workers",
        action="store_true",
        help="one process per worker role, as in production (default: $QRT_UP_WORKERS, "
        "else all the roles in one process)",
    )
    up.set_defaults(func=cmd_up)

    worker = sub.add_parser(
        "worker",
        help="run a stream worker",
        description="Run one worker role in the foreground, or `all` of them in one "
        "process (what `qrt up` runs by default; production runs each role apart).",
    )
    worker.add_argument(
        "role",
        choices=["intake", "cases", "timers", "sms", "spikes", "all"],
        help="intake, cases, timers, sms or spikes; all: the five in one process",
    )
    worker.set_defaults(func=cmd_worker)

    api = sub.add_parser("api", help="run the HTTP API")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.set_defaults(func=cmd_api)

    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(
        func=cmd_migrate
    )
    sub.add_parser("topics", help="create missing Kafka topics").set_defaults(func=cmd_topics)


def _add_event_commands(sub: Any) -> None:
    """publish, simulate, queue: events in, the queue out."""
    from services.cli_publish import add_publish_command

    add_publish_command(sub)

    simulate = sub.add_parser("simulate", help="publish synthetic events (invented people)")
    simulate.add_argument("--rate", type=float, default=5.0, help="events per second")
    simulate.add_argument("--count", type=int, default=100)
    simulate.add_argument("--seed", type=int)
    simulate.set_defaults(func=cmd_simulate)

    queue = sub.add_parser("queue", help="print a program's work queue")
    queue.add_argument("--program", required=True)
    queue.add_argument("--limit", type=int, default=500)
    queue.add_argument("--json", action="store_true")
    queue.set_defaults(func=cmd_queue)


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(0o077)  # the data dir, the SQLite file, logs, outbox: for this user alone
    args = build_parser().parse_args(argv)
    if getattr(args, "rate", 1) <= 0 or getattr(args, "count", 1) < 0:
        err("error: --rate must be > 0 and --count >= 0")
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("kafka", "alembic", "aiokafka", "apscheduler.executors", "twilio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # what is still buffered meets a closed pipe here, not at exit
        return code
    except BrokenPipeError:
        return _pipe_closed()
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear one-line error, not a traceback, for known failures
        from services.errors import KNOWN_ERRORS

        if isinstance(exc, KNOWN_ERRORS):
            err(f"error: {exc}")
            return 1
        raise


def _pipe_closed() -> int:
    """The reader of our output went away (`qrt queue | head`): stop quietly, as a
    command killed by SIGPIPE would, with nothing more written to the closed pipe (the
    interpreter's last flush at exit goes to /dev/null)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file behind sys.stdout (a test's capture)
        pass
    return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())

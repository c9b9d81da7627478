"""Timer worker (`qrt worker timers`): APScheduler jobs over the store.

- every `QRT_SWEEP_SECONDS`: fire due timers (window opened, at risk, missed);
- every second: plan the programs whose plan was requested;
- every `QRT_FULL_PLAN_MINUTES`: plan every program (shifts pass with time);
- every `QRT_SWEEP_SECONDS`: open the family-support case of each known death that has
  none yet (services/cases/family_support.py).
- every minute: the nightly retention of each program whose 03:00 (program time) passed
  and whose day has not run yet (services/retention/nightly.py).
Several timer workers may run: timers are claimed row by row and planning
locks the program (on PostgreSQL), so nothing fires or plans twice at once.
A job that fails is logged and runs again at its next tick; nothing is lost
because the state it works from is in the store.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from services.bootstrap import Context, bootstrap
from services.cases.family_support import sweep_family_support
from services.cases.replanning import plan_program, plan_requested
from services.cases.timers import BATCH, sweep_timers
from services.planning.pace import PlanPace
from services.retention.nightly import nightly_retention
from services.runtime.metrics import PLANNER_RUNS, TIMERS_FIRED, serve_worker_metrics
from services.runtime.recent_errors import keep_recent_errors
from services.runtime.run_files import ready_file, write_atomically
from services.settings import Settings

log = logging.getLogger(__name__)
RETENTION_LOOK_SECONDS = 60  # how often the nightly retention looks whether it is due


def sweep_all(ctx: Context) -> int:
    fired = 0
    while True:
        n = sweep_timers(ctx.store, ctx.clock())
        fired += n
        TIMERS_FIRED.inc(n)
        if n < BATCH:
            return fired


_PACE = PlanPace()


def plan_requested_now(ctx: Context, pace: PlanPace = _PACE) -> None:
    started = time.monotonic()
    if not pace.due(started):
        return
    planned = plan_requested(ctx.store, ctx.programs, ctx.clock())
    pace.last_started, pace.last_took = started, time.monotonic() - started
    if planned:
        PLANNER_RUNS.observe(pace.last_took / len(planned))


def plan_all(ctx: Context) -> None:
    for program in ctx.programs.programs:
        with PLANNER_RUNS.time():
            plan_program(ctx.store, program, ctx.clock())


def family_support(ctx: Context) -> None:
    sweep_family_support(ctx.store, ctx.programs, ctx.cipher, ctx.clock())


def retention(ctx: Context) -> None:
    nightly_retention(ctx.store, ctx.programs, ctx.clock())


def build_scheduler(ctx: Context) -> BackgroundScheduler:
    settings = ctx.settings
    scheduler = BackgroundScheduler(timezone="UTC")
    common: dict[str, Any] = {"max_instances": 1, "coalesce": True}
    scheduler.add_job(
        sweep_all, "interval", seconds=settings.sweep_seconds, args=[ctx], id="sweep", **common
    )
    scheduler.add_job(
        plan_requested_now, "interval", seconds=1, args=[ctx], id="plan-requested", **common
    )
    scheduler.add_job(
        family_support, "interval", seconds=settings.sweep_seconds, args=[ctx],
        id="family-support", **common,
    )  # fmt: skip
    scheduler.add_job(
        retention, "interval", seconds=RETENTION_LOOK_SECONDS, args=[ctx], id="retention", **common
    )
    scheduler.add_job(
        plan_all,
        "interval",
        minutes=settings.full_plan_minutes,
        args=[ctx],
        id="plan-all",
        **common,
    )
    return scheduler


def run_timer_worker(settings: Settings) -> int:
    ctx = bootstrap(settings)
    _ = ctx.store  # a schema out of date stops the worker now
    serve_worker_metrics(settings, "timers")
    keep_recent_errors(settings, "timers")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    scheduler = build_scheduler(ctx)
    plan_all(ctx)
    sweep_all(ctx)
    scheduler.start()
    write_atomically(ready_file(settings, "timers"), "running\n")
    log.info("timer worker running: sweep every %s s", settings.sweep_seconds)
    stop.wait()
    scheduler.shutdown(wait=True)
    return 0

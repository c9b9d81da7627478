"""Every worker role in one process (`qrt worker all`, what `qrt up` runs by default):
one Faust app (consumer group `qrt-all`) with the intake, case (its outbox relay and
the rejection agent with it), SMS and spike agents on one event loop, and the timer jobs
(workers/timers.py) on the scheduler's threads beside it. One metrics server, one
ready file, one recent-errors file (`run/all.*`).

The roles' policies are their own modules'; nothing changes in them by sharing a
process. What does: a fault that stops one role (the case agent's unexpected fault
exits the process) restarts all of them, each resuming from its committed offsets and
the store. Production runs the roles apart (`qrt worker intake|cases|timers|sms|spikes`),
each in its own container.

Ready means the timers' first plan and sweep are done, their scheduler runs, and the
app has its partitions. SIGTERM/SIGINT stop the app (Faust's own handlers); the
scheduler stops with it, after the jobs that are running.

Memory: the process's floor is what the roles import, shared once. A backlog (tens of
thousands of events) raises it for as long as the allocator keeps what was freed;
every TRIM_EVERY_S glibc is asked to give free pages back (`malloc_trim`), and `qrt up`
runs its children with MALLOC_ARENA_MAX=2 (fewer per-thread heaps holding free memory).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from typing import Any

import faust
from faust.worker import Worker

from services.bootstrap import bootstrap
from services.runtime.metrics import serve_worker_metrics
from services.runtime.recent_errors import keep_recent_errors
from services.runtime.run_files import ALL_WORKERS
from services.settings import Settings
from workers.app import create_faust_app
from workers.cases import register_case_agent
from workers.intake import register_intake_agent
from workers.sms import register_sms_agent
from workers.spikes import register_spike_agent
from workers.timers import build_scheduler, plan_all, sweep_all

log = logging.getLogger(__name__)
TRIM_EVERY_S = 30.0


def run_all_workers(settings: Settings) -> int:
    ctx = bootstrap(settings)
    _ = ctx.store  # a schema out of date stops the worker now
    serve_worker_metrics(settings, ALL_WORKERS)
    keep_recent_errors(settings, ALL_WORKERS)
    app = create_faust_app(ctx, ALL_WORKERS)
    for register in (
        register_intake_agent,
        register_case_agent,
        register_sms_agent,
        register_spike_agent,
    ):
        register(app, ctx)
    _register_trim(app)
    scheduler = build_scheduler(ctx)
    plan_all(ctx)
    sweep_all(ctx)
    scheduler.start()
    log.info("timers running beside the agents: sweep every %s s", settings.sweep_seconds)

    async def stop_timers(_sender: Any, **_: Any) -> None:
        await asyncio.to_thread(scheduler.shutdown, True)

    app.on_before_shutdown.connect(stop_timers)  # type: ignore[arg-type]
    level = logging.getLevelName(settings.log_level.upper())
    worker = Worker(app, loglevel=level if isinstance(level, int) else logging.INFO, quiet=True)
    try:
        worker.execute_from_commandline()
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
    return 0


def _register_trim(app: faust.App) -> None:
    """Free memory back to the system after a burst; nothing to do without glibc."""
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return

    @app.timer(TRIM_EVERY_S)
    async def give_memory_back() -> None:
        trim(0)

"""Run one worker role in the foreground (`qrt worker intake|cases|sms|spikes`)."""

from __future__ import annotations

import logging

from faust.worker import Worker

from services.bootstrap import bootstrap
from services.runtime.metrics import serve_worker_metrics
from services.runtime.recent_errors import keep_recent_errors
from services.settings import Settings
from workers.app import create_faust_app
from workers.cases import register_case_agent
from workers.intake import register_intake_agent
from workers.sms import register_sms_agent
from workers.spikes import register_spike_agent

ROLES = {
    "intake": register_intake_agent,
    "cases": register_case_agent,
    "sms": register_sms_agent,
    "spikes": register_spike_agent,
}


def run_worker(role: str, settings: Settings) -> int:
    ctx = bootstrap(settings)
    serve_worker_metrics(settings, role)
    keep_recent_errors(settings, role)
    app = create_faust_app(ctx, role)
    ROLES[role](app, ctx)
    level = logging.getLevelName(settings.log_level.upper())
    worker = Worker(app, loglevel=level if isinstance(level, int) else logging.INFO, quiet=True)
    worker.execute_from_commandline()
    return 0

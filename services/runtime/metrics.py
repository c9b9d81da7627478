"""What each process counts, in the Prometheus text format (prometheus-client).

Every process counts its own work and serves it: a worker on `QRT_METRICS_PORT`
(`qrt up` gives each worker a free port and records its address in
`<data_dir>/run/<role>.metrics`), the API at `GET /metrics`, which also reads the
state of the whole system from the store and the broker at each scrape
(`services/runtime/system_state.py`: backlogs, texts by state, timers overdue,
consumer lag per worker group, rejected records). Counters carry no personal data:
reasons, outcomes and statuses only."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

from services.runtime.run_files import run_dir, write_atomically
from services.settings import Settings

INTAKE_EVENTS = Counter(
    "qrt_intake_events",
    "Events the intake worker screened, by result (routed, rejected) and reason",
    ["result", "reason"],
)
CASE_EVENTS = Counter(
    "qrt_case_worker_events",
    "Events the case worker handled, by handling (opened, linked, duplicate, fatal, "
    "too_old, refused)",
    ["handling"],
)
CASES_OPENED = Counter("qrt_cases_opened", "Cases opened")
TEXTS = Counter("qrt_texts", "Texts the SMS worker settled, by outcome", ["outcome"])
TIMERS_FIRED = Counter("qrt_timers_fired", "Timers fired with an effect")
PLANNER_RUNS = Histogram(
    "qrt_planner_run_seconds",
    "How long one planning run of one program took",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
GATEWAY_REQUESTS = Counter(
    "qrt_gateway_requests", "Requests to the ingest gateway, by HTTP status", ["status"]
)
FAULTS = Counter("qrt_faults", "Faults met and handled, by kind (outage, refused record)", ["kind"])


def serve_worker_metrics(settings: Settings, role: str) -> str | None:
    """Serve this process's metrics on QRT_METRICS_PORT (0: a free port), if set; the
    address is written to run/<role>.metrics for `qrt status`."""
    if settings.metrics_port is None:
        return None
    server, _thread = start_http_server(settings.metrics_port, addr=settings.metrics_host)
    port = server.server_address[1]
    url = f"http://{settings.metrics_host}:{port}/metrics"
    write_atomically(run_dir(settings) / f"{role}.metrics", url + "\n")
    return url

"""`qrt status`: what is running, how far behind each worker is, what is waiting, and
the last errors; the same readings as the API's `/metrics` (services/runtime/
system_state.py), as a table (or `--json`). No personal data: counts and reasons."""

from __future__ import annotations

import argparse
import json
import urllib.request
from typing import Any

SHOWN_COUNTERS = (
    "qrt_intake_events_total",
    "qrt_case_worker_events_total",
    "qrt_texts_total",
    "qrt_timers_fired_total",
)


def _scrape(url: str) -> dict[str, float]:
    """The counters a worker serves that `qrt status` shows, summed over their labels."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (a local worker)
        text = answer.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in SHOWN_COUNTERS:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if v)
                name = f"{sample.name}{{{labels}}}" if labels else sample.name
                totals[name] = totals.get(name, 0.0) + sample.value
    return totals


def status(settings: Any) -> dict[str, Any]:
    from services.bootstrap import engine_for
    from services.clock import shifted_clock
    from services.runtime.recent_errors import read_recent_errors
    from services.runtime.run_files import (
        NoBrokerConfigured,
        bootstrap_servers,
        worker_processes,
    )
    from services.runtime.sending_state import read_sending_pause
    from services.runtime.system_state import read_broker, read_store, store_ready
    from services.store.repository import Store

    run = settings.data_dir / "run"
    processes: dict[str, Any] = {}
    for role in worker_processes(settings):  # `all` (every role in one), or each role
        metrics = run / f"{role}.metrics"
        entry: dict[str, Any] = {"ready": (run / f"{role}.ready").exists()}
        if metrics.exists():
            url = metrics.read_text().strip()
            try:
                entry["counters"] = _scrape(url)
            except OSError as exc:
                entry["counters_error"] = f"{url}: {exc}"
        processes[role] = entry
    store = Store(engine_for(settings))
    try:
        problem = store_ready(store)
        found: dict[str, Any] = {"processes": processes, "store": problem or "ok"}
        if problem is None:
            found["waiting"] = vars(
                read_store(store, shifted_clock(settings.clock_offset_seconds)())
            )
    finally:
        store.dispose()
    try:
        broker = read_broker(settings, bootstrap_servers(settings))
        found["broker"] = "ok" if broker.reachable else broker.problem
        found["lag"] = {f"{g} {t}": n for (g, t), n in sorted(broker.lag.items())}
        found["rejected_records"] = broker.rejected_records
    except NoBrokerConfigured as exc:
        found["broker"] = str(exc)
    found["sms_sending"] = read_sending_pause(settings) or "ok"
    found["last_errors"] = read_recent_errors(settings)[-10:]
    return found


def _print_table(found: dict[str, Any]) -> None:
    print("process   ready  counters")
    for role, entry in found["processes"].items():
        counters = entry.get("counters", {})
        shown = "; ".join(f"{k} {v:g}" for k, v in sorted(counters.items())) or entry.get(
            "counters_error", "-"
        )
        print(f"{role:<9} {'yes' if entry['ready'] else 'no':<6} {shown}")
    print(f"store     {found['store']}")
    for name, value in found.get("waiting", {}).items():
        print(f"  {name:<22} {value}")
    print(f"broker    {found['broker']}")
    for name, lag in found.get("lag", {}).items():
        print(f"  lag {name:<36} {lag}")
    if "rejected_records" in found:
        print(f"  rejected records (overdose.rejected.v1) {found['rejected_records']}")
    paused = found.get("sms_sending", "ok")
    if isinstance(paused, dict):
        print(f"sms sending PAUSED ({paused.get('cause')}) since {paused.get('since')}: "
              f"{paused.get('detail')}; next try at {paused.get('resume_at')}")  # fmt: skip
    else:
        print(f"sms sending {paused}")
    print("last errors" + ("" if found["last_errors"] else ": none"))
    for error in found["last_errors"]:
        print(f"  {error.get('at', '')} {error['role']} {error.get('level', '')}: "
              f"{error.get('message', '')}")  # fmt: skip


def cmd_status(args: argparse.Namespace) -> int:
    from services.cli_common import settings_of

    found = status(settings_of(args))
    if args.json:
        print(json.dumps(found, indent=2, default=str))
    else:
        _print_table(found)
    ok = found["store"] == "ok" and found["broker"] == "ok" and found["sms_sending"] == "ok"
    return 0 if ok else 1


def add_status_command(sub: Any) -> None:
    status_ = sub.add_parser(
        "status", help="what is running, lag, backlogs and the last errors of the stack"
    )
    status_.add_argument("--json", action="store_true")
    status_.set_defaults(func=cmd_status)

"""Load test of the HTTP ingest gateway (a script, not a pytest test).

    .venv/bin/python -m tests.benchmarks.bench_gateway [--rate 200] [--seconds 60]
        [--workers running|paused]

A fresh `qrt up` (embedded broker, SQLite); one API key per example agency; synthetic
events POSTed one per request at --rate for --seconds (open loop: requests are sent on
schedule whatever the answers), by an asyncio aiohttp client on the same machine.
Measured per request: the status and the latency (send to answer); while sending, the
cores each part of the stack used. Then every event answered 202 must be in the store
as a case or a deliberate skip (fatal): nothing lost. Target: p99 < 200 ms, no 202 lost.

`--workers running` (the default): the whole stack (API, broker, four workers, the
client) shares the machine's cores while sending. `--workers paused`: the workers are
stopped (SIGSTOP) while sending and resumed after, as when the gateway runs on its own
machine; events wait in Kafka meanwhile, and the figure says how long the resumed
workers took to store them all. Writes tests/benchmarks/results/gateway.json (or
gateway_workers_paused.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from services.simulation.synthetic import synthetic_events
from services.store.database import make_engine
from services.store.tables import events as events_table
from tests.benchmarks.common import machine_info, percentile
from tests.benchmarks.pipeline_stack import ROOT, BenchFailure, Stack, say
from tests.benchmarks.process_cpu import cores_used, tree, tree_cpu

OUT = Path(__file__).resolve().parent / "results" / "gateway.json"
TARGET_P99_MS = 200.0
AGENCIES = ["EX-EMS-01", "EX-EMS-02", "EX-PD-01", "EX-SO-01"]


def make_keys(stack: Stack) -> dict[str, str]:
    keys = {}
    for agency in AGENCIES:
        out = subprocess.run(
            [sys.executable, "-m", "services.cli", "agency", "create", agency],
            cwd=ROOT, env={"QRT_DATA_DIR": str(stack.dir), "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        keys[agency] = out.stdout.strip().splitlines()[-1]
    return keys


async def load(api: str, keys: dict[str, str], evs: list[dict[str, Any]], rate: float) -> list[Any]:
    """Open loop: request i leaves at t0 + i/rate. aiohttp, which costs the client less CPU
    than httpx: client and stack share the same two cores."""
    results: list[Any] = [None] * len(evs)
    bodies = [json.dumps(e).encode() for e in evs]
    connector = aiohttp.TCPConnector(limit=128)
    async with aiohttp.ClientSession(api, connector=connector) as session:

        async def one(i: int) -> None:
            headers = {
                "Authorization": f"Bearer {keys[evs[i]['agency_id']]}",
                "Content-Type": "application/json",
            }
            started = time.perf_counter()
            try:
                async with session.post("/api/v1/events", data=bodies[i], headers=headers) as r:
                    await r.read()
                    results[i] = (r.status, (time.perf_counter() - started) * 1000)
            except aiohttp.ClientError as exc:
                results[i] = (type(exc).__name__, (time.perf_counter() - started) * 1000)

        t0 = time.perf_counter()
        tasks = []
        for i in range(len(evs)):
            wait = t0 + i / rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(i)))
            if (i + 1) % int(rate * 10) == 0:
                say(f"  sent {i + 1}/{len(evs)}")
        sent_s = time.perf_counter() - t0
        await asyncio.gather(*tasks)
        say(f"  sent at {len(evs) / sent_s:.1f} requests/s")
    return results


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = int(args.rate * args.seconds)
    if args.rate < 0.1 or n < 1:
        raise BenchFailure("--rate must be at least 0.1 and rate x seconds at least 1")
    evs = list(synthetic_events(n, datetime.now(UTC), args.seed))
    with Stack("gateway") as stack:
        keys = make_keys(stack)
        say(f"posting {n} events at {args.rate:g}/s for {args.seconds:g} s ...")
        assert stack.proc is not None
        workers = [p for p, role in tree(stack.proc.pid).items() if role.startswith("worker ")]
        if args.workers == "paused":
            say(f"  pausing the {len(workers)} workers (SIGSTOP): the gateway alone on the cores")
            for pid in workers:
                os.kill(pid, signal.SIGSTOP)
        try:
            cpu_before, started = tree_cpu(stack.proc.pid), time.monotonic()
            results = asyncio.run(load(stack.api, keys, evs, args.rate))
            cores = cores_used(cpu_before, tree_cpu(stack.proc.pid), time.monotonic() - started)
        finally:  # stopped workers would not stop on SIGTERM either
            if args.workers == "paused":
                say("  resuming the workers (SIGCONT); waiting for every 202 in the store")
                for pid in workers:
                    os.kill(pid, signal.SIGCONT)
        accepted = {e["event_id"] for e, r in zip(evs, results, strict=True) if r[0] == 202}
        engine = make_engine(stack.db_url)
        drain_started = time.monotonic()
        deadline, stored = drain_started + 300, {}
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                stored = {
                    r.event_id: (r.handling, r.case_id)
                    for r in conn.execute(
                        select(
                            events_table.c.event_id, events_table.c.handling, events_table.c.case_id
                        )
                    )
                }
            if accepted <= stored.keys():
                break
            time.sleep(1)
        drained_s = time.monotonic() - drain_started
        engine.dispose()
    lost = sorted(accepted - stored.keys())
    unexplained = [
        eid for eid in accepted & stored.keys()
        if stored[eid][1] is None and stored[eid][0] != "skipped_fatal"
    ]  # fmt: skip
    latencies = [r[1] for r in results]
    statuses = Counter(str(r[0]) for r in results)
    p99 = percentile(latencies, 99)
    ok = not lost and not unexplained and p99 < TARGET_P99_MS and statuses.get("202") == n
    return {
        "config": {
            "rate": args.rate,
            "seconds": args.seconds,
            "requests": n,
            "store": "sqlite",
            "workers": args.workers,
        },
        "statuses": dict(statuses),
        "latency_ms": {f"p{p}": round(percentile(latencies, p), 1) for p in (50, 95, 99)}
        | {"max": round(max(latencies), 1)},
        "p99_ms_per_10s": [
            round(percentile(latencies[i : i + int(args.rate * 10)], 99), 1)
            for i in range(0, n, int(args.rate * 10))
        ],
        "cores_used_while_sending": cores,
        "accepted": len(accepted),
        "in_store_after_last_answer_s": round(drained_s, 1),
        "in_store": len(accepted & stored.keys()),
        "lost": len(lost),
        "unexplained": len(unexplained),
        "target": {"what": f"p99 < {TARGET_P99_MS:.0f} ms, every 202 in the store", "pass": ok},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--workers",
        choices=("running", "paused"),
        default="running",
        help="running: the whole stack shares the cores while sending; paused: the workers "
        "are stopped while sending (the gateway as on its own machine) and resumed after",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="default: results/gateway.json, or "
        "results/gateway_workers_paused.json with --workers paused",
    )
    args = parser.parse_args()
    if args.out is None:
        args.out = (
            OUT if args.workers == "running" else OUT.with_name("gateway_workers_paused.json")
        )
    machine = machine_info()
    try:
        report = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                  "machine": machine} | run(args)  # fmt: skip
    except BenchFailure as exc:
        say(f"BENCHMARK FAILED: {exc}")
        return 1
    lat = report["latency_ms"]
    say(
        f"machine: {machine['cpu_model']}, {machine['cores']} cores, Python {machine['python']}\n"
        f"statuses {report['statuses']}; latency p50 {lat['p50']} / p95 {lat['p95']} / "
        f"p99 {lat['p99']} / max {lat['max']} ms\n"
        f"p99 per 10 s of sending: {report['p99_ms_per_10s']}\n"
        f"cores used while sending: {report['cores_used_while_sending']}\n"
        f"202s {report['accepted']}, in the store {report['in_store']}, lost {report['lost']}, "
        f"neither case nor deliberate skip {report['unexplained']}; all in the store "
        f"{report['in_store_after_last_answer_s']} s after the last answer"
    )
    say(("PASS" if report["target"]["pass"] else "FAIL") + ": " + report["target"]["what"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    say(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

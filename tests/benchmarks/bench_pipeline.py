"""End-to-end benchmark of the QRT pipeline on one machine (a script, not a pytest test).

    .venv/bin/python -m tests.benchmarks.bench_pipeline [--quick] [--sizes 2000,20000,200000]
        [--rate R] [--seconds S] [--separate-workers] [--keep]

For each size (default 2,000, 20,000 and 200,000 events), a fresh `qrt up` (embedded
broker, SQLite): its memory idle; N synthetic events published at once (acks=all), timed
from the first send until all N rows are in `events`, every non-fatal one in a case; its
memory settled after; a plain kafka-python consumer reading the same N messages from the
same broker (the ceiling). Then another fresh stack: non-fatal events published at --rate
while the queue API is read over and over; latency = send -> first seen there. Memory is
the resident set of every process under `qrt up` (supervisor, API, workers, broker).

PASS/FAIL against the targets below; a missed target exits 0, lost or duplicated data or
a stack that would not run exits 1. Writes tests/benchmarks/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from tests.benchmarks.common import machine_info
from tests.benchmarks.pipeline_latency import phase_latency
from tests.benchmarks.pipeline_report import print_report
from tests.benchmarks.pipeline_stack import ROOT, Stack, gen_events, say
from tests.benchmarks.pipeline_throughput import phase_baseline, phase_size

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"
SIZES = (2_000, 20_000, 200_000)  # cost as work grows: events/s and memory should stay flat
TARGET_AT = 20_000  # the size the throughput ratio and the memory after are judged at
TARGET_RATIO = 0.15  # end to end / plain kafka-python consumer, same events, same broker
TARGET_P99_MS = 250.0  # publish to visible in the queue API at 100 events/s
TARGET_IDLE_MB = 350.0  # whole stack, resident, idle
TARGET_AFTER_MB = 450.0  # the same after TARGET_AT events


def target(what: str, measured: str, ok: bool) -> dict[str, Any]:
    return {"what": what, "measured": measured, "pass": ok}


def judge(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The targets, measured at TARGET_AT events (or the nearest size that ran)."""
    ref = res["sizes"][str(res["reference_events"])]
    n, lat = ref["events"], res["latency"]
    idle, after = ref["memory_idle"]["rss_mb"], ref["memory_after"]["rss_mb"]
    return {
        "ratio": target(
            f"pipeline / plain consumer at {n:,} events >= {TARGET_RATIO:g}",
            f"{ref['ratio']:.3f} ({ref['end_to_end_eps']:,.0f} / {ref['baseline']['eps']:,.0f})",
            ref["ratio"] >= TARGET_RATIO,
        ),
        "latency_p99": target(
            f"publish to queue API at {lat['rate_target']:g} ev/s, p99 < {TARGET_P99_MS:g} ms",
            f"p99 {lat['p99_ms']:,.1f} ms (p50 {lat['p50_ms']:,.1f} ms)",
            lat["p99_ms"] < TARGET_P99_MS,
        ),
        "memory_idle": target(
            f"whole stack resident, idle < {TARGET_IDLE_MB:g} MB",
            f"{idle:,.0f} MB",
            idle < TARGET_IDLE_MB,
        ),
        "memory_after": target(
            f"whole stack resident after {n:,} events < {TARGET_AFTER_MB:g} MB",
            f"{after:,.0f} MB",
            after < TARGET_AFTER_MB,
        ),
    }


def pipeline_machine_info() -> dict[str, Any]:
    return machine_info(
        kafka_python=metadata.version("kafka-python"),
        aiokafka=metadata.version("aiokafka"),
        faust_streaming=metadata.version("faust-streaming"),
        git_commit=subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="events per run")
    parser.add_argument("--rate", type=float, default=100.0, help="latency phase, events/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="latency phase length")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--poll-gap-ms", type=float, default=0.0, help="pause between queue GETs")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="settle before idle RSS")
    parser.add_argument("--settle-seconds", type=float, default=5.0, help="settle before RSS after")
    parser.add_argument("--separate-workers", action="store_true", help="one process per role")
    parser.add_argument("--quick", action="store_true", help="2,000 events, 5 s latency phase")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--keep", action="store_true", help="keep the stacks' data dirs and logs")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.seconds, args.idle_seconds, args.settle_seconds = "2000", 5.0, 3.0, 2.0
    try:
        args.sizes = sorted({int(s) for s in args.sizes.split(",")})
    except ValueError:
        parser.error("--sizes takes numbers separated by commas")
    if min(args.sizes) < 1 or args.rate <= 0 or args.seconds <= 0:
        parser.error("--sizes, --rate and --seconds must be positive")
    return args


def timed(res: dict[str, Any], name: str, run: Callable[..., Any], *args: Any) -> Any:
    """run(*args), its wall time kept in res["phase_s"][name]."""
    started = time.monotonic()
    try:
        return run(*args)
    finally:
        res["phase_s"][name] = round(time.monotonic() - started, 1)


def run_all(args: argparse.Namespace, res: dict[str, Any], stacks: list[Stack]) -> None:
    up_args = ("--separate-workers",) if args.separate_workers else ()
    phases = len(args.sizes) + 1
    for i, n in enumerate(args.sizes, 1):
        evs = timed(res, f"generate {n}", gen_events, n, args.seed)
        say(f"phase {i}/{phases}: {n:,} events end to end (fresh stack)")
        stacks.append(Stack(f"events-{n}", up_args))
        started = time.monotonic()
        with stacks[-1] as stack:
            size = timed(res, f"{n} events", phase_size, stack, evs, *settle_s(args))
            say(f"  plain kafka-python consumer: the same {n:,} events, same broker")
            size["baseline"] = timed(res, f"{n} plain consumer", phase_baseline, stack, n)
        res["phase_s"][f"{n} with stack up and down"] = round(time.monotonic() - started, 1)
        size["ratio"] = round(size["end_to_end_eps"] / size["baseline"]["eps"], 4)
        res["sizes"][str(n)] = size
        forget(stacks[-1], args.keep)
    say(f"phase {phases}/{phases}: latency at {args.rate:g}/s (fresh stack)")
    stacks.append(Stack("latency", up_args))
    started = time.monotonic()
    with stacks[-1] as stack:
        latency_args = (stack, args.rate, args.seconds, args.seed + 1, args.poll_gap_ms / 1000)
        res["latency"] = timed(res, "latency", phase_latency, *latency_args)
    res["phase_s"]["latency with stack up and down"] = round(time.monotonic() - started, 1)
    forget(stacks[-1], args.keep)


def settle_s(args: argparse.Namespace) -> tuple[float, float]:
    return args.idle_seconds, args.settle_seconds


def forget(stack: Stack, keep: bool) -> None:
    """A finished stack's data directory goes (a 200,000-event store is large)."""
    if not keep:
        shutil.rmtree(stack.dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reference = min(args.sizes, key=lambda n: abs(n - TARGET_AT))  # TARGET_AT when it ran
    stacks: list[Stack] = []
    res: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {k: v for k, v in vars(args).items() if not isinstance(v, Path)},
        "machine": pipeline_machine_info(),
        "reference_events": reference,
        "sizes": {},
        "phase_s": {},
    }
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with `&`
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the stacks get stopped
    code = 0
    try:
        run_all(args, res, stacks)
        res["targets"] = judge(res)
        print_report(res)
    except (Exception, KeyboardInterrupt, SystemExit) as exc:  # report it, exit 1
        res["error"] = f"{type(exc).__name__}: {exc}"
        say(f"BENCHMARK FAILED: {res['error']}")
        code = 1
    res["ok"] = code == 0
    res["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    for stack in stacks:
        if stack.dir.exists():
            say(f"kept {stack.dir} (logs in {stack.dir / 'logs'}, {stack.dir / 'up.log'})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    say(f"results written to {args.out}")
    return code


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of visit planning (a script, not a pytest test).

    .venv/bin/python -m tests.benchmarks.bench_planning [--cases N] [--reps R] [--batch B]

One program (America/New_York) with 5 teams: two day teams Mon-Fri 08:00-16:00 (8 visits a
shift), an evening team Mon-Sat 14:00-22:00 (6), a weekend team Sat-Sun 10:00-18:00 (6) and a
Mon/Wed/Fri team 09:00-17:00 (10). N open cases (default 1,000) occurred at random over the
last 72 h, tiers mixed 70/20/10 % (new/unlocated/deferred), visit window 12-72 h after the
overdose. One planning run = `shifts_between` (from now to the last deadline) + `plan_visits`.
Timed R times after a warm-up; median and p95 printed and written to
tests/benchmarks/results/planning.json with the machine. Target: one run < 200 ms.

The "with the store" rows time what the timer worker really runs, in one transaction, on SQLite
and on PostgreSQL (`--database-url`, default the local server; `--no-postgres` to skip): read,
plan, write what changed and announce it. Two programs hold the same N open cases and get the
same changes: one is planned in full (`plan_program`, every open case: the timer's safety
net), the other incrementally (`replan_program`, the part the change log says can move; the
same plan, checked run by run). The first run places every case; then R runs each follow one
changed case (a tier moved), and 5 runs each follow a batch of `--batch` new cases (default
500, as the case worker writes a batch; they stay, so the program grows by 5 batches). The
store target is the incremental run after one change.

A second scenario, "ample capacity", multiplies every team's capacity by 12 so that nearly all
cases are placed: the same code path with many more placements and augmenting paths (reported,
not part of the target). Exit 1 if a plan breaks its own invariants; a missed target is FAIL
but exits 0.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text, update

from services.cases.replanning import plan_program, replan_program
from services.planning.planner import Plan, PlanCase, plan_visits
from services.planning.shifts import Shift, TeamConfig, shifts_between
from services.planning.visit_window import visit_window
from services.programs import Program, VisitWindow
from services.store.database import make_engine, migrate
from services.store.repository import Store
from services.store.tables import cases as cases_table
from services.store.tables import program_state
from tests.benchmarks.common import fresh_database, machine_info, percentile

OUT = Path(__file__).resolve().parent / "results" / "planning.json"
TARGET_MS = 200.0
BATCH_REPS = 5  # batches of new cases a run (each stays: the program grows by 5 batches)
TZ = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)  # a Tuesday, 10:30 in New York
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def teams(scale: int = 1) -> list[TeamConfig]:
    def team(team_id: str, capacity: int, days: list[str], start: str, end: str) -> TeamConfig:
        return TeamConfig.model_validate(
            {
                "id": team_id,
                "name": team_id.replace("-", " ").title(),
                "capacity_per_shift": capacity * scale,
                "shift": [{"days": days, "start": start, "end": end}],
                "days_off": ["2026-11-26"] if team_id == "day-b" else [],  # Thanksgiving
            }
        )

    return [
        team("day-a", 8, WEEKDAYS, "08:00", "16:00"),
        team("day-b", 8, WEEKDAYS, "08:00", "16:00"),
        team("evening", 6, [*WEEKDAYS, "sat"], "14:00", "22:00"),
        team("weekend", 6, ["sat", "sun"], "10:00", "18:00"),
        team("mwf", 10, ["mon", "wed", "fri"], "09:00", "17:00"),
    ]


def open_cases(count: int, seed: int) -> list[PlanCase]:
    rng = random.Random(seed)
    rule = VisitWindow()
    cases = []
    for i in range(count):
        occurred = NOW - timedelta(seconds=rng.randrange(72 * 3600))
        window = visit_window(occurred, rule)
        tier = rng.choices([0, 1, 2], weights=[70, 20, 10])[0]
        cases.append(PlanCase(f"case-{i:05d}", tier, window.opens_at, window.due_at, occurred))
    return cases


def one_run(team_list: list[TeamConfig], cases: list[PlanCase]) -> tuple[float, float, Plan]:
    """(shifts ms, plan ms, plan) for one planning run, as the service would do it."""
    t0 = time.perf_counter()
    horizon = max(c.due_at for c in cases)
    shifts = shifts_between(team_list, TZ, NOW, horizon)
    t1 = time.perf_counter()
    plan = plan_visits(cases, shifts, NOW)
    t2 = time.perf_counter()
    return (t1 - t0) * 1000, (t2 - t1) * 1000, plan


def check(plan: Plan, cases: list[PlanCase], shifts: list[Shift]) -> None:
    """The invariants the unit tests prove, re-checked on the benchmark's plan."""
    if set(plan.slots) | set(plan.at_risk) != {c.case_id for c in cases} or (
        set(plan.slots) & set(plan.at_risk)
    ):
        raise SystemExit("plan does not partition the cases")
    by_id = {c.case_id: c for c in cases}
    capacity = {(s.team_id, s.start): s.capacity for s in shifts}
    load = Counter((s.team_id, s.shift_start) for s in plan.slots.values())
    if any(n > capacity[key] for key, n in load.items()):
        raise SystemExit("a shift is over capacity")
    for slot in plan.slots.values():
        c = by_id[slot.case_id]
        if not (NOW <= slot.visit_from < slot.visit_until) or not (
            c.opens_at <= slot.visit_from and slot.visit_until <= c.due_at
        ):
            raise SystemExit(f"slot outside its window: {slot}")


def scenario(name: str, scale: int, cases: list[PlanCase], reps: int) -> dict[str, Any]:
    team_list = teams(scale)
    for _ in range(3):  # warm-up
        one_run(team_list, cases)
    shifts_ms, plan_ms, total_ms = [], [], []
    plan = None
    for _ in range(reps):
        s_ms, p_ms, plan = one_run(team_list, cases)
        shifts_ms.append(s_ms)
        plan_ms.append(p_ms)
        total_ms.append(s_ms + p_ms)
    assert plan is not None
    shifts = shifts_between(team_list, TZ, NOW, max(c.due_at for c in cases))
    check(plan, cases, shifts)
    reasons = Counter(plan.at_risk.values())
    placed_by_tier = Counter(c.tier_rank for c in cases if c.case_id in plan.slots)
    return {
        "name": name,
        "capacity_scale": scale,
        "cases": len(cases),
        "shifts": len(shifts),
        "places": sum(s.capacity for s in shifts),
        "placed": len(plan.slots),
        "at_risk": len(plan.at_risk),
        "at_risk_by_reason": {str(k): v for k, v in sorted(reasons.items())},
        "placed_by_tier": {str(k): placed_by_tier[k] for k in (0, 1, 2)},
        "cases_by_tier": {str(k): sum(c.tier_rank == k for c in cases) for k in (0, 1, 2)},
        "reps": reps,
        "ms": {
            what: {
                "median": round(statistics.median(values), 3),
                "p95": round(percentile(values, 95), 3),
                "min": round(min(values), 3),
                "max": round(max(values), 3),
            }
            for what, values in (("shifts_between", shifts_ms), ("plan_visits", plan_ms))
        }
        | {
            "total": {
                "median": round(statistics.median(total_ms), 3),
                "p95": round(percentile(total_ms, 95), 3),
                "min": round(min(total_ms), 3),
                "max": round(max(total_ms), 3),
            }
        },
    }


def _case_rows(program_id: str, cases: list[PlanCase]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{program_id}-{c.case_id}",
            "program_id": program_id,
            "status": "open",
            "tier": ("new", "unlocated", "deferred")[c.tier_rank],
            "tier_rank": c.tier_rank,
            "occurred_at": c.occurred_at,
            "window_opens_at": c.opens_at,
            "window_due_at": c.due_at,
            "opened_at": NOW,
            "updated_at": NOW,
        }
        for c in cases
    ]


def _timed(run: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = run()
    return (time.perf_counter() - t0) * 1000, result


def _summary(runs: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(runs), 2),
        "p95": round(percentile(runs, 95), 2),
        "max": round(max(runs), 2),
    }


def store_scenario(
    backend: str, url: str | None, cases: list[PlanCase], reps: int, seed: int, batch: int
) -> dict[str, Any]:
    """`plan_program` (every open case) and `replan_program` (the part the change log says can
    move) against a real store: two programs holding the same open cases, the same changes."""
    full, part = (
        Program(id=name, name=name, timezone=TZ.key, teams=teams(1)) for name in ("full", "part")
    )
    rng = random.Random(seed)
    now = NOW
    with fresh_database(url, "bench_planning") as db_url:
        engine = make_engine(db_url)
        migrate(engine)
        store = Store(engine)
        with engine.begin() as conn:
            conn.execute(insert(program_state), [{"program_id": p.id} for p in (full, part)])
            conn.execute(
                insert(cases_table), _case_rows(full.id, cases) + _case_rows(part.id, cases)
            )
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:  # as autovacuum would after such a load
                conn.execute(text("ANALYZE"))
                conn.commit()
        first_ms, first_changed = _timed(lambda: plan_program(store, full, now))
        replan_program(store, part, now)
        one: dict[str, list[float]] = {"full": [], "part": []}
        changed = []
        for _ in range(reps):  # one case changes its tier
            victim, rank = rng.choice(cases), rng.randrange(3)
            with engine.begin() as conn:
                conn.execute(
                    update(cases_table)
                    .where(cases_table.c.id.in_([f"{p.id}-{victim.case_id}" for p in (full, part)]))
                    .values(tier_rank=rank)
                )
            ms, n = _timed(lambda: plan_program(store, full, now))
            one["full"].append(ms)
            changed.append(n)
            ms, done = _timed(lambda: replan_program(store, part, now))
            one["part"].append(ms)
            assert done.changed == n, "the same plan"
        many: dict[str, list[float]] = {"full": [], "part": [], "changed": [], "read": []}
        extra = open_cases(len(cases) + batch * BATCH_REPS, seed + 1)[len(cases) :]
        for i in range(BATCH_REPS):  # a batch of new cases, as the case worker writes one
            now += timedelta(seconds=1)
            new = [
                replace(c, case_id=f"new-{c.case_id}") for c in extra[i * batch : (i + 1) * batch]
            ]
            with engine.begin() as conn:
                conn.execute(
                    insert(cases_table), _case_rows(full.id, new) + _case_rows(part.id, new)
                )
            ms, n = _timed(partial(plan_program, store, full, now))
            many["full"].append(ms)
            ms, done = _timed(partial(replan_program, store, part, now))
            many["part"].append(ms)
            assert done.incremental and done.changed == n, "a part, and the same plan"
            many["changed"].append(n)
            many["read"].append(done.read)
        engine.dispose()
    return {
        "name": f"with the store ({backend})",
        "first_run_ms": round(first_ms, 2),
        "first_run_changed": first_changed,
        "ms": _summary(one["full"]),
        "changed_per_run_median": statistics.median(changed),
        "incremental_ms": _summary(one["part"]),
        "batch": {
            "new_cases": batch,
            "runs": BATCH_REPS,
            "open_cases_after": len(cases) + batch * BATCH_REPS,
            "full_ms": _summary(many["full"]),
            "incremental_ms": _summary(many["part"]),
            "changed_median": statistics.median(many["changed"]),
            "incremental_read_median": statistics.median(many["read"]),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--batch", type=int, default=500, help="new cases in a batch")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--postgres", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()

    machine = machine_info()
    cases = open_cases(args.cases, args.seed)
    results = [
        scenario("realistic (5 teams as configured)", 1, cases, args.reps),
        scenario("ample capacity (x12)", 12, cases, args.reps),
    ]
    stored = [store_scenario("sqlite", None, cases, args.reps, args.seed, args.batch)]
    if args.postgres:
        stored.append(
            store_scenario("postgresql", args.database_url, cases, args.reps, args.seed, args.batch)
        )
    target = results[0]["ms"]["total"]["p95"] < TARGET_MS
    store_target = all(r["incremental_ms"]["p95"] < TARGET_MS for r in stored)
    report = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "now": NOW.isoformat(),
        "config": {"cases": args.cases, "reps": args.reps, "seed": args.seed, "teams": 5},
        "machine": machine,
        "target": {"what": "shifts_between + plan_visits, p95", "ms": TARGET_MS, "pass": target},
        "store_target": {
            "what": "replan_program (the part a change can move: read, plan, write, announce) "
            "after one change, p95",
            "ms": TARGET_MS,
            "pass": store_target,
        },
        "scenarios": results,
        "with_store": stored,
    }

    print(
        f"machine: {machine['cpu_model']}, {machine['cores']} cores, "
        f"Python {machine['python']}, {machine['platform']}"
    )
    print(f"{args.cases} open cases, tiers {results[0]['cases_by_tier']}, {args.reps} reps")
    header = f"{'scenario':36s} {'step':15s} {'median ms':>10s} {'p95 ms':>9s} {'max ms':>9s}"
    print(header)
    print("-" * len(header))
    for res in results:
        for step in ("shifts_between", "plan_visits", "total"):
            m = res["ms"][step]
            name = res["name"] if step == "shifts_between" else ""
            print(f"{name:36s} {step:15s} {m['median']:10.2f} {m['p95']:9.2f} {m['max']:9.2f}")
        print(
            f"{'':36s} {res['shifts']} shifts, {res['places']} places: placed {res['placed']} "
            f"(by tier {res['placed_by_tier']}), at risk {res['at_risk']} "
            f"{res['at_risk_by_reason']}"
        )
    for r in stored:
        b = r["batch"]
        for step, m in (
            ("plan_program", r["ms"]),
            ("replan_program", r["incremental_ms"]),
            (f"{b['new_cases']} new: full", b["full_ms"]),
            (f"{b['new_cases']} new: part", b["incremental_ms"]),
        ):
            name = r["name"] if step == "plan_program" else ""
            print(f"{name:36s} {step:15s} {m['median']:10.2f} {m['p95']:9.2f} {m['max']:9.2f}")
        print(
            f"{'':36s} first run {r['first_run_ms']:.1f} ms writing {r['first_run_changed']} "
            f"cases; one changed case changes {r['changed_per_run_median']:g} (median); "
            f"a batch changes {b['changed_median']:g}, the part reads "
            f"{b['incremental_read_median']:g} of {b['open_cases_after']} open cases"
        )
    verdict = "PASS" if target and store_target else "FAIL"
    store_p95 = ", ".join(f"{r['incremental_ms']['p95']:.1f}" for r in stored)
    print(
        f"{verdict}: realistic run p95 {results[0]['ms']['total']['p95']:.2f} ms, with the "
        f"store p95 {store_p95} ms "
        f"(target < {TARGET_MS:.0f} ms)"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

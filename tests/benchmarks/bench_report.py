"""Benchmark of a program's report for a year (a script, not a pytest test).

    .venv/bin/python -m tests.benchmarks.bench_report [--cases N] [--reads R]
        [--database-url postgresql+psycopg://...] [--seed S] [--explain]

A database is created for the run on the PostgreSQL server of --database-url (default the
local one), migrated, and dropped afterwards. A year (2026) of program `example` is
inserted in bulk (SQLAlchemy Core, many rows a statement), shaped like a busy program:
- N cases (default 100,000) over the year: 92 % overdose, 6 % referral, 2 % family
  support; 60,000 persons, so many have repeat overdoses; each overdose case has its
  report (EMS or police, a few agencies), 8 % a second report of the other source minutes
  later, 4 % a repeat overdose that joined it; plus fatal reports (no case, 6 %) and
  reports too old for a case (1 %);
- 85 % of the cases attempted (1 to 3 attempts by three teams, hours to days after), 55 %
  contacted, visits with services, needs and barriers; 10 % of the contacted referred to
  treatment (some entered, some retained); 40 % with a check-in text (sent, delivered,
  failed), consents and opt-outs; 3,000 rejected feed records;
- the year before, N/4 cases of the same persons (history: persons known, contacts before
  a repeat overdose), and N/10 cases of another program (the report must skip them).
Then ANALYZE, and the report for 2026 by month, R times (default 25, after 2 warm-ups):
`program_report` in process, and `GET /api/v1/programs/example/report` (in-process ASGI,
bearer token, the read audited) for a program manager. p50/p95/max of each; by week and
for release once each. --explain prints EXPLAIN ANALYZE of every statement of one report.
Target: the API's p95 < 1 s. Results: tests/benchmarks/results/report.json; exit 1 if missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text

from schemas.accounts import Role
from schemas.report import ReportBy
from services.api.app import create_app
from services.bootstrap import bootstrap
from services.programs import load_programs
from services.reporting.build import program_report
from services.settings import Settings
from services.store.database import make_engine, migrate
from services.store.repository import Store
from tests.benchmarks.bench_report_data import load_year
from tests.benchmarks.common import fresh_database, machine_info, percentile
from tests.integration.test_case_store import CIPHER
from tests.support_accounts import bearer

OUT = Path(__file__).resolve().parent / "results" / "report.json"
TARGET_MS = 1000.0
YEAR = (date(2026, 1, 1), date(2026, 12, 31))
NOW = datetime(2027, 1, 15, 15, 0, tzinfo=UTC)
WARMUP = 2


def timed(fn: Any, reads: int) -> dict[str, float]:
    for _ in range(WARMUP):
        fn()
    took = []
    for _ in range(reads):
        start = time.perf_counter()
        fn()
        took.append((time.perf_counter() - start) * 1000)
    return {
        "p50": round(percentile(took, 50), 1),
        "p95": round(percentile(took, 95), 1),
        "max": round(max(took), 1),
        "reads": reads,
    }


def explain(engine: Engine, store: Store, program: Any) -> None:
    statements: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        statements.append((statement, params))

    event.listen(engine, "before_cursor_execute", keep)
    program_report(store, program, *YEAR, ReportBy.MONTH, clinical=True, share=False, now=NOW)
    event.remove(engine, "before_cursor_execute", keep)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, params in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
            plan = "\n".join(r[0] for r in cursor.fetchall())
            print(f"\n--- {statement[:160]}...\n{plan}")
    finally:
        raw.close()


def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = make_engine(url)
    migrate(engine)
    store = Store(engine)
    programs = load_programs(None)
    program = programs.programs[0]
    started = time.perf_counter()
    counts = load_year(engine, args.cases, args.seed)
    loaded_s = time.perf_counter() - started
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    if args.explain:
        explain(engine, store, program)

    def in_process(by: ReportBy = ReportBy.MONTH, share: bool = False) -> Any:
        return program_report(store, program, *YEAR, by, clinical=True, share=share, now=NOW)

    headers = bearer(store, "bench-manager", Role.PROGRAM_MANAGER, program.id)
    settings = Settings()
    ctx = bootstrap(settings, store=store, cipher=CIPHER, clock=lambda: NOW, programs=programs)
    query = f"/api/v1/programs/{program.id}/report?from={YEAR[0]}&to={YEAR[1]}&by=month"
    with TestClient(create_app(settings, ctx=ctx)) as client:

        def over_api() -> None:
            answer = client.get(query, headers=headers)
            assert answer.status_code == 200, answer.text

        api = timed(over_api, args.reads)
    direct = timed(in_process, args.reads)
    weekly = timed(lambda: in_process(ReportBy.WEEK), 3)
    shared = timed(lambda: in_process(share=True), 3)
    report = in_process()
    engine.dispose()
    return {
        "rows": counts, "load_seconds": round(loaded_s, 1), "api_ms": api,
        "in_process_ms": direct, "by_week_ms": weekly, "share_ms": shared,
        "figures": {
            "overdoses": report.overdoses.total, "cases": report.cases.funnel[2].count,
            "contacted": report.cases.contacted, "persons": report.overdoses.distinct_persons,
            "known": report.overdoses.persons_known,
            "median_h_to_contact": report.cases.to_first_contact.median_hours,
        },
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=25)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    args = parser.parse_args()
    machine = machine_info()
    with fresh_database(args.database_url, prefix="bench_report") as url:
        result = run(url, args)
    passed = result["api_ms"]["p95"] < TARGET_MS
    out = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {"cases": args.cases, "reads": args.reads, "seed": args.seed,
                   "period": [str(d) for d in YEAR], "by": "month"},
        "machine": machine,
        "target": {"what": "GET .../report for a year, p95", "ms": TARGET_MS, "pass": passed},
        **result,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"machine: {machine['cpu_model']}, {machine['cores']} cores, "
          f"load {machine['load_avg_at_start']}, Python {machine['python']}")  # fmt: skip
    print(f"rows: {result['rows']} (loaded in {result['load_seconds']} s)")
    print(f"figures: {result['figures']}")
    for name in ("api_ms", "in_process_ms", "by_week_ms", "share_ms"):
        m = result[name]
        print(f"{name:15s} p50 {m['p50']:8.1f}  p95 {m['p95']:8.1f}  max {m['max']:8.1f}  "
              f"({m['reads']} reads)")  # fmt: skip
    verdict = "PASS" if passed else "FAIL"
    print(
        f"{verdict}: the API's p95 {result['api_ms']['p95']:.1f} ms (target < {TARGET_MS:.0f} ms)"
    )
    print(f"results: {args.out}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

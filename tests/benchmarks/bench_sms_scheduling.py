"""Benchmark of queueing cases' texts one case at a time vs a batch at a time (a script,
not a pytest test).

    .venv/bin/python -m tests.benchmarks.bench_sms_scheduling [--cases N] [--batch B]
        [--database-url URL]

N open cases (default 2,000), each its own person with their own phone and consent to
texts, are opened from the same events in two fresh stores (SQLite by default). One
store has its texts queued case by case (`schedule_case_texts`: what the SMS worker did
for each case event, one transaction per case), the other B cases at a time
(`schedule_cases_texts`, default 500: the worker's batch). Two passes each: "first"
queues 4 texts a case (check-in, days 3, 7, 30); "again" is the same cases once more
(a redelivered or later case event, nothing new: the worker's usual lot). Reported:
cases/s (wall) and CPU ms a case of each, the ratios, and whether the two stores ended
with the same texts. Writes tests/benchmarks/results/sms_scheduling.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from schemas.intake import IntakeRecord, Origin
from schemas.overdose_event import OverdoseEvent
from services.cases.opening import open_cases
from services.crypto.fields import FieldCipher
from services.crypto.keys import keyring_from_text, new_key_text
from services.programs import Programs, load_programs
from services.sms.recipient_time import recipient_zone
from services.sms.texts import schedule_case_texts, schedule_cases_texts, to_aad
from services.store.database import make_engine, migrate
from services.store.repository import Store
from services.store.tables import cases, sms_texts
from tests.benchmarks.common import fresh_database, machine_info

OUT = Path(__file__).resolve().parent / "results" / "sms_scheduling.json"
# the overdoses happened at 10:00 in New York; the texts are queued an hour later
OCCURRED = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
NOW = OCCURRED + timedelta(hours=1)
OPEN_BATCH = 500


def name_for(i: int) -> str:
    letters = ""
    while True:
        i, r = divmod(i, 26)
        letters += chr(97 + r)
        if i == 0:
            return "Bench" + letters


def records(n: int) -> list[IntakeRecord]:
    out = []
    for i in range(n):
        event = OverdoseEvent.model_validate(
            {
                "event_id": f"bench-{i}",
                "source": "ems",
                "agency_id": "EX-EMS-01",
                "incident_number": f"INC-bench-{i}",
                "occurred_at": OCCURRED.isoformat(),
                "location": {"county_fips": "54011"},
                "patient": {
                    "first_name": name_for(i),
                    "last_name": name_for(i * 7919 + 3),
                    "dob": f"{1960 + i % 40}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    "phone": f"+1304{2000000 + i:07d}",
                    "address": {"zip": "25701", "city": "Huntington", "state": "WV"},
                },
                "consent": {"sms": True, "visit": True},
            }
        )
        origin = Origin(topic="followup.intake.v1", partition=0, offset=i)
        out.append(
            IntakeRecord(program_id="example", event=event, origin=origin, received_at=OCCURRED)
        )
    return out


def open_store(url: str, cipher: FieldCipher, programs: Programs, n: int) -> list[str]:
    """Open the N cases; return their ids in the order the events came."""
    engine = make_engine(url)
    migrate(engine)
    store = Store(engine)
    events = records(n)
    for start in range(0, n, OPEN_BATCH):
        open_cases(store, events[start : start + OPEN_BATCH], programs, OCCURRED, cipher)
    with engine.connect() as conn:
        ids = list(conn.execute(select(cases.c.id).order_by(cases.c.id)).scalars())
    store.dispose()
    assert len(ids) == n, f"{len(ids)} cases opened of {n}"
    return ids


def timed(action: Callable[[], int]) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    queued = action()
    return {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "queued": queued,
    }


def texts_of(url: str, cipher: FieldCipher) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(sms_texts).order_by(sms_texts.c.idempotency_key)).all()
    engine.dispose()
    return [
        (
            r.idempotency_key, r.case_id, r.person_id, r.phone_token, r.kind, r.language,
            r.body, r.zone, r.state_code, r.state, r.due_at, r.send_after,
            cipher.open(r.to_sealed, to_aad(r.idempotency_key)),
        )
        for r in rows
    ]  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    cipher = FieldCipher(keyring_from_text(new_key_text("b"), base64.b64encode(b"k" * 32).decode()))
    programs = load_programs(None)
    recipient_zone("25701", None, programs.programs[0].zone)  # the ZIP data, loaded once
    n = args.cases
    results: dict[str, dict[str, dict[str, float]]] = {}
    with (
        fresh_database(args.database_url, "bench_sms_one") as one_url,
        fresh_database(args.database_url, "bench_sms_batch") as batch_url,
    ):
        t0 = time.perf_counter()
        ids = open_store(one_url, cipher, programs, n)
        assert open_store(batch_url, cipher, programs, n) == ids
        print(f"{n:,} open cases with consent, in two stores, in {time.perf_counter() - t0:.1f} s")
        one, batch = Store(make_engine(one_url)), Store(make_engine(batch_url))

        def case_by_case() -> int:
            return sum(schedule_case_texts(one, cipher, programs, i, NOW) for i in ids)

        def in_batches() -> int:
            return sum(
                schedule_cases_texts(batch, cipher, programs, ids[s : s + args.batch], NOW)
                for s in range(0, n, args.batch)
            )

        for run_name in ("first", "again"):
            results[run_name] = {"per_case": timed(case_by_case), "batch": timed(in_batches)}
        one.dispose()
        batch.dispose()
        same = texts_of(one_url, cipher) == texts_of(batch_url, cipher)
    report: dict[str, Any] = {
        "config": {
            "cases": n,
            "batch": args.batch,
            "store": "postgresql" if args.database_url else "sqlite",
        },
        "same_texts": same,
    }
    for run_name, pair in results.items():
        row: dict[str, Any] = {}
        for mode, figures in pair.items():
            row[mode] = {
                "queued": int(figures["queued"]),
                "wall_s": round(figures["wall_s"], 3),
                "cases_per_s": round(n / figures["wall_s"], 1),
                "cpu_ms_per_case": round(1000 * figures["cpu_s"] / n, 3),
            }
        row["speedup"] = round(pair["per_case"]["wall_s"] / pair["batch"]["wall_s"], 2)
        row["cpu_ratio"] = round(pair["per_case"]["cpu_s"] / pair["batch"]["cpu_s"], 2)
        report[run_name] = row
    first = report["first"]
    report["target"] = {
        "what": "the same texts, batch faster than per case",
        "pass": same
        and first["per_case"]["queued"] == first["batch"]["queued"] == 4 * n
        and first["speedup"] > 1,
    }
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--database-url", default=None, help="PostgreSQL server (default SQLite)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    machine = machine_info()
    report = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine}
    report |= run(args)
    print(f"machine: {machine['cpu_model']}, {machine['cores']} cores, Python {machine['python']}")
    for run_name in ("first", "again"):
        row = report[run_name]
        for mode in ("per_case", "batch"):
            f = row[mode]
            print(
                f"{run_name:>5} {mode:>8}: {f['cases_per_s']:>8,.0f} cases/s "
                f"({f['wall_s']:.2f} s, {f['cpu_ms_per_case']:.2f} CPU ms a case, "
                f"{f['queued']:,} texts queued)"
            )
        print(f"{run_name:>5}    ratio: x{row['speedup']:.1f} wall, x{row['cpu_ratio']:.1f} CPU")
    print(f"same texts in both stores: {report['same_texts']}")
    print(("PASS" if report["target"]["pass"] else "FAIL") + ": " + report["target"]["what"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark of person matching against a large known population (a script, not a pytest test).

    .venv/bin/python -m tests.benchmarks.bench_matching [--persons N] [--events M]
        [--database-url postgresql+psycopg://...] [--[no-]analyze] [--seed S]

A fresh store (SQLite in a temporary directory, or a database created for the run and dropped
afterwards on the PostgreSQL server of --database-url) is loaded with N known persons (default
100,000) of one program: invented syllabic names (2,000 last x 1,000 first, Zipf-weighted), DOBs
1950-2008, 55 % with a phone, 70 % with one of 36 ZIPs; identities sealed and blind indexes
computed as the case worker does. Then M events (default 500, after a warm-up) are resolved one
at a time, each by its own `PersonResolver` (prefetch + resolve in one transaction): 40 % exact
re-reports of a known person, 20 % spelling variants / swapped DOB, 40 % new people. Nothing is
written back, so every event sees the same N persons. A batch of M through one resolver follows.
ANALYZE runs after loading on PostgreSQL (as autovacuum would), not on SQLite (the product never
runs it there); --analyze / --no-analyze override.
Target: one event end to end (transaction, blind-index query, decryption, scoring, decision)
p99 < 20 ms. Results: tests/benchmarks/results/matching.json. A miss prints FAIL but exits 0.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import statistics
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from tqdm import tqdm

from schemas.overdose_event import Address, Patient
from services.cases.person_resolution import PersonResolver
from services.crypto.fields import FieldCipher
from services.crypto.keys import keyring_from_text, new_key_text
from services.identity import matching as m
from services.identity.blocking import blind_tokens
from services.identity.similarity import swap_day_month
from services.store import person_records as pr
from services.store.database import make_engine, migrate
from services.store.repository import Store
from services.store.tables import persons
from tests.benchmarks.common import fresh_database, machine_info, percentile

OUT = Path(__file__).resolve().parent / "results" / "matching.json"
TARGET_MS = 20.0
PROGRAM = "bench-program"
NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
ONSETS = [*"b br c ch d dr f g gr h j k l m n p r s sh st t tr v w z".split(), ""]
VOWELS = "a e i o u ai ea ie ou".split()
CODAS = ["", "", "n", "r", "l", "s", "th", "nd", "rt", "ck", "m"]
AREA_CODES = ["304", "681", "540", "276", "606", "740", "412", "724"]
MIX = (("exact", 0.4), ("variant", 0.2), ("new", 0.4))
WARMUP = 50


def syllabic_names(rng: random.Random, count: int, syllables: tuple[int, ...]) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        parts = [rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(rng.choice(syllables))]
        name = ("".join(parts) + rng.choice(CODAS)).capitalize()
        if len(name) >= 3:
            names.add(name)
    return sorted(names)


class Population:
    """Invented people; a few names are common (Zipf weights), most are rare."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.last = syllabic_names(rng, 2000, (2, 2, 3))
        self.first = syllabic_names(rng, 1000, (1, 2, 2))
        rng.shuffle(self.last)
        rng.shuffle(self.first)
        self.last_cw = list(accumulate(r**-0.6 for r in range(1, len(self.last) + 1)))
        self.first_cw = list(accumulate(r**-0.7 for r in range(1, len(self.first) + 1)))
        self.zips = [f"25{n:03d}" for n in rng.sample(range(1000), 36)]

    def person(self) -> Patient:
        rng = self.rng
        phone = None
        if rng.random() < 0.55:
            phone = f"({rng.choice(AREA_CODES)}) {rng.randint(200, 999)}-{rng.randrange(10000):04d}"
        address = Address(zip=rng.choice(self.zips)) if rng.random() < 0.7 else None
        return Patient(
            first_name=rng.choices(self.first, cum_weights=self.first_cw)[0],
            last_name=rng.choices(self.last, cum_weights=self.last_cw)[0],
            dob=date(1950, 1, 1) + timedelta(days=rng.randrange(59 * 365)),
            sex=rng.choice("MF"),
            phone=phone,
            language=rng.choices(["eng", "spa", None], [80, 15, 5])[0],
            address=address,
        )


def misspell(rng: random.Random, name: str) -> str:
    while True:
        i = rng.randrange(1, len(name))
        op = rng.choice(("swap", "drop", "double", "vowel"))
        if op == "swap" and i < len(name) - 1:
            out = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        elif op == "drop" and len(name) > 4:
            out = name[:i] + name[i + 1 :]
        elif op == "double":
            out = name[: i + 1] + name[i:]
        else:
            out = name[:i] + rng.choice("aeiou") + name[i + 1 :]
        if out.lower() != name.lower():
            return out


def make_event(rng: random.Random, pop: Population, known: list[Patient], kind: str) -> Patient:
    if kind == "new":
        return pop.person()
    p = rng.choice(known)
    if kind == "exact":  # the same person, written differently (case, phone format)
        update: dict[str, Any] = {"last_name": p.last_name.upper() if rng.random() < 0.5 else None}
        if p.phone and rng.random() < 0.5:
            update["phone"] = "+1" + re.sub(r"\D", "", p.phone)
        return p.model_copy(update={k: v for k, v in update.items() if v})
    choice = rng.choice(("last_name", "first_name", "dob"))
    swapped = swap_day_month(p.dob) if p.dob else None
    if choice == "dob" and swapped:
        return p.model_copy(update={"dob": swapped})
    field = "first_name" if choice == "first_name" else "last_name"
    return p.model_copy(update={field: misspell(rng, getattr(p, field))})


def event_mix(rng: random.Random, pop: Population, known: list[Patient], n: int) -> list[Any]:
    kinds = rng.choices([k for k, _ in MIX], [w for _, w in MIX], k=n)
    return [(kind, make_event(rng, pop, known, kind)) for kind in kinds]


def load(store: Store, cipher: FieldCipher, pop: Population, n: int) -> dict[str, Any]:
    """N known persons, sealed and indexed, inserted in chunks (one executemany per table)."""
    known: list[Patient] = []
    index_rows = 0
    stamps = {"program_id": PROGRAM, "created_at": NOW, "updated_at": NOW}
    t0 = time.perf_counter()
    with tqdm(total=n, unit="persons", desc="loading", mininterval=1.0) as bar:
        for start in range(0, n, 5000):
            person_rows, token_rows = [], []
            for _ in range(min(5000, n - start)):
                patient = pop.person()
                pid = str(uuid.UUID(int=pop.rng.getrandbits(128), version=4))
                sealed = pr.seal_identity(cipher, pid, pr.identity_of(patient))
                person_rows.append({"id": pid, "identity_sealed": sealed, **stamps})
                tokens = set(blind_tokens(cipher.blind, m.features_from_patient(patient)))
                token_rows += [
                    {"program_id": PROGRAM, "kind": k, "token": t, "person_id": pid}
                    for k, t in sorted(tokens)
                ]
                known.append(patient)
            with store.transaction() as conn:
                pr.insert_persons(conn, person_rows)
                pr.add_tokens(conn, token_rows)
            index_rows += len(token_rows)
            bar.update(len(person_rows))
    seconds = time.perf_counter() - t0
    same = Counter((p.last_name, p.first_name, p.dob) for p in known)
    return {
        "known": known,
        "seconds": round(seconds, 1),
        "persons_per_s": round(n / seconds),
        "index_rows": index_rows,
        "persons_sharing_name_and_dob": sum(c for c in same.values() if c > 1),
    }


def resolve_one(store: Store, cipher: FieldCipher, patient: Patient, key: str) -> dict[str, Any]:
    """One event as the case worker resolves a batch of one (nothing written back)."""
    t0 = time.perf_counter()
    with store.transaction() as conn:
        resolver = PersonResolver(conn, cipher, PROGRAM, m.Thresholds(), NOW)
        t1 = time.perf_counter()
        resolver.prefetch([patient])
        t2 = time.perf_counter()
        found = resolver.resolve(patient, key)
        t3 = time.perf_counter()
        candidates = len(resolver.known_person_ids)
    t4 = time.perf_counter()
    ms = {"total": t4 - t0, "prefetch": t2 - t1, "resolve": t3 - t2}
    return {k: v * 1000 for k, v in ms.items()} | {
        "decision": str(found.decision),
        "candidates": candidates,
    }


def breakdown(store: Store, cipher: FieldCipher, patients: list[Patient]) -> dict[str, float]:
    """Mean ms per event of the steps of `prefetch` + `resolve`, called one by one."""
    ms: Counter[str] = Counter()
    for patient in patients:
        marks = [time.perf_counter()]
        feats = m.features_from_patient(patient)
        tokens = [t for _, t in blind_tokens(cipher.blind, feats)]
        marks.append(time.perf_counter())
        with store.transaction() as conn:
            found = pr.persons_by_tokens(conn, PROGRAM, tokens)
            ids = sorted(set().union(*found.values())) if found else []
            marks.append(time.perf_counter())
            rows = conn.execute(
                select(persons.c.id, persons.c.identity_sealed).where(persons.c.id.in_(ids))
            ).all()
        marks.append(time.perf_counter())
        identities = {pid: pr.open_identity(cipher, pid, sealed) for pid, sealed in rows}
        marks.append(time.perf_counter())
        known = {
            p: m.features_from_patient(Patient.model_validate(i)) for p, i in identities.items()
        }
        marks.append(time.perf_counter())
        m.best_match(feats, sorted(known.items()), m.Thresholds())
        marks.append(time.perf_counter())
        steps = ("features+blind", "index query", "persons query", "decrypt", "features", "score")
        for step, a, b in zip(steps, marks, marks[1:], strict=False):
            ms[step] += (b - a) * 1000
    return {step: round(total / len(patients), 3) for step, total in ms.items()}


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    out = {f"p{p}": round(percentile(ordered, p), 3) for p in (50, 95, 99)}
    return out | {"max": round(ordered[-1], 3), "mean": round(statistics.fmean(values), 3)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    pop = Population(rng)
    index_key = base64.b64encode(os.urandom(32)).decode()
    cipher = FieldCipher(keyring_from_text(new_key_text("b1"), index_key))
    with fresh_database(args.database_url, "bench_matching") as url:
        store = Store(make_engine(url))
        try:
            migrate(store.engine)
            loaded = load(store, cipher, pop, args.persons)
            backend = store.engine.dialect.name
            analyzed = backend == "postgresql" if args.analyze is None else args.analyze
            if analyzed:  # planner statistics, as autovacuum keeps them on a live server
                with store.transaction() as conn:
                    conn.execute(text("ANALYZE"))
            known = loaded.pop("known")
            for i, (_, patient) in enumerate(event_mix(rng, pop, known, WARMUP)):
                resolve_one(store, cipher, patient, f"warmup:{i}")
            events = event_mix(rng, pop, known, args.events)
            runs = [
                resolve_one(store, cipher, patient, f"bench:{i}")
                for i, (_, patient) in enumerate(tqdm(events, desc="one by one", unit="events"))
            ]
            batch_ms = []
            for rep in range(3):  # a batch as the case worker takes it: one prefetch for all
                batch = event_mix(rng, pop, known, args.events)
                t0 = time.perf_counter()
                with store.transaction() as conn:
                    resolver = PersonResolver(conn, cipher, PROGRAM, m.Thresholds(), NOW)
                    resolver.prefetch([p for _, p in batch])
                    for i, (_, patient) in enumerate(batch):
                        resolver.resolve(patient, f"batch{rep}:{i}")
                batch_ms.append((time.perf_counter() - t0) * 1000)
            steps = breakdown(store, cipher, [p for _, p in events])
        finally:
            store.dispose()
    per_event = {what: stats([r[what] for r in runs]) for what in ("total", "prefetch", "resolve")}
    kinds = [k for k, _ in events]
    candidates = stats([float(r["candidates"]) for r in runs])
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {"persons": args.persons, "events": args.events, "seed": args.seed}
        | {"backend": backend, "analyzed": analyzed, "warmup": WARMUP, "mix": dict(MIX)},
        "target": {"what": "one event end to end, p99", "ms": TARGET_MS}
        | {"pass": per_event["total"]["p99"] < TARGET_MS},
        "load": loaded,
        "per_event_ms": per_event,
        "decisions": dict(Counter(r["decision"] for r in runs)),
        "decisions_by_event_kind": dict(
            sorted(
                Counter(f"{k} -> {r['decision']}" for k, r in zip(kinds, runs, strict=True)).items()
            )
        ),
        "candidates_per_lookup": candidates,
        "batch": {"events": args.events, "runs_ms": [round(x, 1) for x in batch_ms]}
        | {"ms_per_event_median": round(statistics.median(batch_ms) / args.events, 3)},
        "breakdown_mean_ms": steps,
    }


def render(report: dict[str, Any]) -> None:
    mc, cfg, load_, pe = report["machine"], report["config"], report["load"], report["per_event_ms"]
    print(f"machine: {mc['cpu_model']}, {mc['cores']} cores, Python {mc['python']}")
    print(f"         {mc['platform']}, load average {mc['load_avg_at_start']}")
    print(
        f"store: {cfg['backend']}, ANALYZE {'run' if cfg['analyzed'] else 'not run'}; "
        f"{cfg['persons']:,} persons, {load_['index_rows']:,} index rows, "
        f"loaded in {load_['seconds']} s ({load_['persons_per_s']:,} persons/s)"
    )
    cols = ("p50", "p95", "p99", "max", "mean")
    header = f"{'ms per event':22s}" + "".join(f"{c:>9s}" for c in cols)
    print(header + "\n" + "-" * len(header))
    rows = [(f"{k} (n={cfg['events']})", v) for k, v in pe.items()]
    rows.append(("candidates per lookup", report["candidates_per_lookup"]))
    for name, s in rows:
        print(f"{name:22s}" + "".join(f"{s[c]:9.2f}" for c in cols))
    print(f"decisions: {report['decisions']}")
    print(f"  by event kind: {report['decisions_by_event_kind']}")
    b = report["batch"]
    print(f"batch of {b['events']} through one resolver: {b['runs_ms']} ms, ", end="")
    print(f"{b['ms_per_event_median']} ms/event")
    print(
        "breakdown, mean ms/event: "
        + ", ".join(f"{k} {v:.3f}" for k, v in report["breakdown_mean_ms"].items())
    )
    verdict = "PASS" if report["target"]["pass"] else "FAIL"
    print(f"{verdict}: p99 {pe['total']['p99']:.2f} ms end to end (target < {TARGET_MS:.0f} ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--database-url", default=None, help="PostgreSQL server (default SQLite)")
    parser.add_argument(
        "--analyze",
        action=argparse.BooleanOptionalAction,
        help="run ANALYZE after loading (default: on PostgreSQL only; the product never does)",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    machine = machine_info()
    report = {"machine": machine, **run(args)}
    render(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

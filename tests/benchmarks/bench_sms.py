"""Benchmark of sending text check-ins (a script, not a pytest test).

    .venv/bin/python -m tests.benchmarks.bench_sms [--texts N] [--rate R] [--database-url URL]

N texts (default 10,000) are due now, each to its own number with consent, in a fresh
store (SQLite by default). The real dispatcher sends them through twilio-python's async
client to a local server that answers like Twilio's Messages API, at a per-sender limit
of R texts a second (default 100). Measured at the server: the achieved rate (texts
after the first / time from the first to the last), how far it is from the limit, and
duplicates (a number that got more than one text). Target: within 2 % of the limit,
zero duplicates, every text recorded `sent`. Writes tests/benchmarks/results/sms.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from schemas.sms import ConsentSource, TextState
from services.crypto.fields import FieldCipher
from services.crypto.keys import keyring_from_text, new_key_text
from services.programs import load_programs
from services.sms import consent
from services.sms.dispatch import Dispatcher
from services.sms.templates import MessageKind, render
from services.sms.texts import to_aad
from services.sms.twilio_sender import TwilioSender
from services.store.database import make_engine, migrate
from services.store.repository import Store
from services.store.tables import sms_consents, sms_texts
from tests.benchmarks.common import fresh_database, machine_info
from tests.support_twilio import FakeTwilio

OUT = Path(__file__).resolve().parent / "results" / "sms.json"
ACCOUNT, TOKEN = "AC" + "b" * 32, "bench-token"
TOLERANCE = 0.02


def load(store: Store, cipher: FieldCipher, n: int, now: datetime) -> None:
    body = render(
        MessageKind.CHECK_IN, "eng", team_name="Community Support Team", callback_number=None
    ).text
    consents, texts = [], []
    for i in range(n):
        phone = f"+1304{2000000 + i:07d}"
        token = consent.phone_token(cipher, phone)
        key = f"bench-{i}:check_in"
        consents.append(consent.consent_row("example", token, True, ConsentSource.EVENT, now))
        texts.append(
            {
                "idempotency_key": key,
                "program_id": "example",
                "case_id": None,
                "person_id": None,
                "phone_token": token,
                "to_sealed": cipher.seal(phone, to_aad(key)),
                "kind": "check_in",
                "language": "eng",
                "body": body,
                "zone": "America/New_York",
                "state_code": "WV",
                "state": TextState.QUEUED.value,
                "due_at": now,
                "send_after": now,
                "tries": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    with store.transaction() as conn:
        conn.execute(insert(sms_consents), consents)
        conn.execute(insert(sms_texts), texts)


def run(args: argparse.Namespace) -> dict[str, Any]:
    cipher = FieldCipher(keyring_from_text(new_key_text("b"), base64.b64encode(b"k" * 32).decode()))
    programs = load_programs(None)
    # a weekday noon in New York: inside sending hours
    now = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    with fresh_database(args.database_url, "bench_sms") as url, FakeTwilio(ACCOUNT, TOKEN) as fake:
        engine = make_engine(url)
        migrate(engine)
        store = Store(engine)
        t0 = time.perf_counter()
        load(store, cipher, args.texts, now)
        print(f"{args.texts:,} due texts stored in {time.perf_counter() - t0:.1f} s")
        sender = TwilioSender(
            ACCOUNT, TOKEN, from_number="+13045550100", api_base_url=fake.base_url
        )
        dispatcher = Dispatcher(
            store, cipher, programs, sender, lambda: now,
            rate_per_s=args.rate, concurrency=args.concurrency,
        )  # fmt: skip

        async def go() -> None:
            try:
                await dispatcher.run(until_idle=True)
            finally:
                await sender.close()

        print(f"sending at a limit of {args.rate:g}/s (about {args.texts / args.rate:.0f} s) ...")
        started = time.perf_counter()
        asyncio.run(go())
        wall = time.perf_counter() - started
        arrivals = sorted(m.arrived_monotonic for m in fake.messages)
        per_number = Counter(m.to for m in fake.messages)
        with engine.connect() as conn:
            states = dict(
                conn.execute(
                    select(sms_texts.c.state, func.count()).group_by(sms_texts.c.state)
                ).all()
            )
        engine.dispose()
    received = len(arrivals)
    span = arrivals[-1] - arrivals[0] if received > 1 else 0.0
    achieved = (received - 1) / span if span > 0 else 0.0
    deviation = (achieved - args.rate) / args.rate
    duplicates = sum(c - 1 for c in per_number.values() if c > 1)
    ok = abs(deviation) <= TOLERANCE and duplicates == 0 and states.get("sent", 0) == args.texts
    return {
        "config": {
            "texts": args.texts,
            "rate_limit": args.rate,
            "concurrency": args.concurrency,
            "store": "postgresql" if args.database_url else "sqlite",
        },
        "received": received,
        "duplicates": duplicates,
        "achieved_rate": round(achieved, 2),
        "deviation": round(deviation, 4),
        "wall_s": round(wall, 2),
        "states": states,
        "target": {"what": f"rate within {TOLERANCE:.0%} of the limit, no duplicate", "pass": ok},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url", default=None, help="PostgreSQL server (default SQLite)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    machine = machine_info()
    report = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine}
    report |= run(args)
    print(
        f"machine: {machine['cpu_model']}, {machine['cores']} cores, Python {machine['python']}\n"
        f"received {report['received']:,} of {args.texts:,}; duplicates {report['duplicates']}; "
        f"states {report['states']}\n"
        f"achieved {report['achieved_rate']:.2f}/s against a limit of {args.rate:g}/s "
        f"({report['deviation']:+.2%}); wall {report['wall_s']:.1f} s"
    )
    print(("PASS" if report["target"]["pass"] else "FAIL") + ": " + report["target"]["what"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

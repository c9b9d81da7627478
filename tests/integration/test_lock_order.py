"""One lock order everywhere (program state, then cases, then texts): the case worker's
writes, attempts and owners from the API, the planner and the timer sweep, all at once on
PostgreSQL, end without a single deadlock."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from schemas.cases import VisitResult
from services.cases.ownership import change_owner
from services.cases.replanning import plan_program
from services.cases.timers import sweep_timers
from services.cases.visits import VisitRecordError, record_attempt, record_outcome
from services.crypto.fields import FieldCipher
from services.store.database import make_engine, migrate
from services.store.repository import Store
from services.store.tables import cases
from tests.integration.engine_support import T0, Scenario, overdose
from tests.stack_fixtures import fresh_pg_schema

SECONDS = 8.0


def _person(n: int) -> dict[str, str]:
    return {"first_name": f"Person{n}", "last_name": f"Lockorder{n}", "dob": "1980-01-01"}


def _deadlocks(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            ).scalar_one()
        )


def test_writers_and_the_planner_at_once_never_deadlock(
    postgres_url: str, cipher: FieldCipher
) -> None:
    fresh_pg_schema(postgres_url)
    engine = make_engine(postgres_url)
    migrate(engine)
    store = Store(engine)
    scene = Scenario(store, cipher)
    program = scene.programs.programs[0]
    scene.report(*(overdose(patient=_person(n), at=T0 + timedelta(minutes=n)) for n in range(60)))
    before = _deadlocks(store)
    stop = threading.Event()
    errors: list[BaseException] = []
    counts: dict[str, int] = {}
    serial = itertools.count(1000)

    def open_ids() -> list[str]:
        with store.engine.connect() as conn:
            return list(conn.execute(select(cases.c.id).where(cases.c.status == "open")).scalars())

    def case_worker(rng: random.Random) -> None:
        # new people, repeat overdoses of known ones (their cases move), fatal reports
        batch = []
        for _ in range(rng.randint(1, 6)):
            n = rng.choice([next(serial), rng.randrange(60)])
            batch.append(
                overdose(
                    patient=_person(n),
                    at=T0 + timedelta(hours=rng.randint(0, 40)),
                    source=rng.choice(["ems", "police"]),
                    fatal=rng.random() < 0.1,
                )
            )
        scene.report(*batch)

    def api(rng: random.Random) -> None:
        ids = open_ids()
        if not ids:
            return
        case_id = rng.choice(ids)
        now = T0 + timedelta(hours=50)
        try:
            match rng.randrange(3):
                case 0:
                    record_attempt(store, case_id, result=VisitResult.NOT_LOCATED, at=now,
                                   team_id="day", referral=None, actor="peer", now=now)  # fmt: skip
                case 1:
                    change_owner(store, case_id, owner_id="u1", owner_name="peer", team_id=None,
                                 shift_start=None, take_over=True, expected_version=None,
                                 acting_user_id="u1", actor="peer", now=now)  # fmt: skip
                case _:
                    record_outcome(store, case_id, outcome=VisitResult.CONTACTED_DECLINED,
                                   referral=None, actor="peer", now=now,
                                   tier_rules=program.tiers)  # fmt: skip
        except VisitRecordError:
            pass  # closed meanwhile: refused, as it should be

    def planner(rng: random.Random) -> None:
        plan_program(store, program, T0 + timedelta(hours=rng.randint(10, 60)))

    def sweeper(rng: random.Random) -> None:
        sweep_timers(store, T0 + timedelta(hours=rng.randint(10, 80)), limit=20)

    def run(name: str, step: Callable[[random.Random], None], seed: int) -> None:
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                step(rng)
                counts[name] = counts.get(name, 0) + 1
        except DBAPIError as exc:
            errors.append(exc)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [("cases", case_worker), ("api", api), ("api2", api), ("planner", planner),
               ("sweep", sweeper)]  # fmt: skip
    threads = [
        threading.Thread(target=run, args=(name, step, seed))
        for seed, (name, step) in enumerate(workers)
    ]
    for t in threads:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in threads:
        t.join(60)
    try:
        assert not errors, [f"{type(e).__name__}: {str(e).splitlines()[0]}" for e in errors]
        assert all(counts.get(name, 0) > 3 for name, _ in workers), counts
        assert _deadlocks(store) == before, "PostgreSQL saw a deadlock"
    finally:
        store.dispose()

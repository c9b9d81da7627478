"""Building blocks of the engaged-client tests: a clock the test moves, the API on it, a
case whose client the team has reached, and the case row as stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from schemas.cases import VisitResult
from services.api.app import create_app
from services.bootstrap import bootstrap
from services.cases.opening import open_cases
from services.cases.visits import record_attempt
from services.programs import Program, Programs, load_programs
from services.settings import Settings
from services.store.repository import Store
from services.store.tables import cases, events
from tests.integration.test_case_store import CIPHER, record
from tests.integration.test_queue_api import PATIENT

PROGRAMS = load_programs(None)
PROGRAM: Program = PROGRAMS.programs[0]
OVERDOSE_AT = datetime(2026, 11, 22, 13, 30, tzinfo=UTC)  # 08:30 in New York, a Sunday
CONTACT_AT = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # the next day, 10:00 in New York
CHECKIN_AT = CONTACT_AT + timedelta(days=10)  # Thursday 3 December, 10:00 in New York


class Clock:
    """The API's and the services' clock, moved by the test (never the wall clock)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def api(store: Store, clock: Clock, programs: Programs = PROGRAMS) -> TestClient:
    settings = Settings()
    ctx = bootstrap(settings, store=store, cipher=CIPHER, clock=clock, programs=programs)
    return TestClient(create_app(settings, ctx=ctx))


def programs_with(**changes: Any) -> Programs:
    """The bundled example program with some of its settings replaced."""
    return Programs(programs=[PROGRAM.model_copy(update=changes)])


def seed(store: Store, event_id: str = "e1", *, sms: bool = False, **changes: Any) -> str:
    """A case of Dana Example's overdose (OVERDOSE_AT); its id."""
    fields: dict[str, Any] = {
        "patient": PATIENT, "occurred_at": OVERDOSE_AT.isoformat(), "consent": {"sms": sms},
        "incident_number": f"I-{event_id}", **changes,
    }  # fmt: skip
    open_cases(store, [record(event_id, **fields)], PROGRAMS, CONTACT_AT, CIPHER)
    with store.engine.connect() as conn:
        found = conn.execute(select(events.c.case_id).where(events.c.event_id == event_id))
        return str(found.scalar_one())


def contact(store: Store, case_id: str, at: datetime = CONTACT_AT) -> None:
    """The team reached the client: a contacted attempt (declined, wants help later)."""
    record_attempt(
        store, case_id, result=VisitResult.CONTACTED_DECLINED_FUTURE_INTEREST, at=at,
        team_id=None, referral=None, actor="user:peer", now=at,
    )  # fmt: skip


def case_row(store: Store, case_id: str) -> Any:
    with store.engine.connect() as conn:
        return conn.execute(select(cases).where(cases.c.id == case_id)).one()

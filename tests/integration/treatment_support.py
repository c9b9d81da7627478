"""What the treatment-referral tests share: an API on a real store whose clock the test
moves (days pass between a referral and its retention), the example program's cases
and providers, and the providers' keys made as `qrt provider create-key` makes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from services.api.app import create_app
from services.bootstrap import bootstrap
from services.settings import Settings
from services.store.provider_keys import create_key
from services.store.repository import Store
from tests.integration.test_case_store import CIPHER
from tests.integration.test_queue_api import NOW, seed

MOUD = "harbor-moud"  # providers of the example program (services/example_programs.toml)
DETOX = "riverside-detox"


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def days_later(self, days: float) -> datetime:
        self.now = self.now + timedelta(days=days)
        return self.now


@dataclass
class Setup:
    client: TestClient
    clock: Clock
    case_id: str  # the case of Dana Example (1990-04-01), event "a"
    other_case_id: str  # the case of event "b", nobody named
    keys: dict[str, str] = field(default_factory=dict)


def client_with_clock(store: Store, clock: Clock) -> TestClient:
    settings = Settings()
    ctx = bootstrap(settings, store=store, cipher=CIPHER, clock=clock)
    return TestClient(create_app(settings, ctx=ctx))


def provider_key(store: Store, provider_id: str, program_id: str = "example") -> dict[str, str]:
    key = create_key(store, program_id, provider_id, now=NOW, actor="cli", label="test")
    return {"Authorization": f"Bearer {key}"}


def case_ids(client: TestClient, headers: dict[str, str]) -> tuple[str, str]:
    items = client.get("/api/v1/programs/example/queue?status=all", headers=headers).json()
    by_event = {i["events"][0]["event_id"]: i["case_id"] for i in items["items"]}
    return by_event["a"], by_event["b"]


def seeded(store: Store, client: TestClient, clock: Clock, staff: dict[str, str]) -> Setup:
    seed(store)
    case_id, other = case_ids(client, staff)
    return Setup(client, clock, case_id, other)


def refer(client: TestClient, case_id: str, provider_id: str, staff: dict[str, str]) -> str:
    answer = client.post(
        f"/api/v1/cases/{case_id}/treatment-referrals",
        json={"provider_id": provider_id},
        headers=staff,
    )
    assert answer.status_code == 201, answer.text
    referral_id: str = answer.json()["id"]
    return referral_id


def report(
    client: TestClient, referral_id: str, key: dict[str, str], state: str, at: datetime | None
) -> Any:
    body: dict[str, str] = {"state": state}
    if at is not None:
        body["at"] = at.isoformat()
    return client.post(f"/api/v1/treatment-referrals/{referral_id}/status", json=body, headers=key)


def staff_set(
    client: TestClient, referral_id: str, staff: dict[str, str], state: str, at: datetime | None
) -> Any:
    body: dict[str, str] = {"state": state}
    if at is not None:
        body["at"] = at.isoformat()
    return client.put(f"/api/v1/treatment-referrals/{referral_id}/status", json=body, headers=staff)

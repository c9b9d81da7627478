"""The work-queue read over HTTP, on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from services.api.app import create_app
from services.bootstrap import bootstrap
from services.cases.opening import open_cases
from services.programs import load_programs
from services.settings import Settings
from services.store.repository import Store
from tests.integration.test_case_store import CIPHER, record

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)


def client_for(store: Store) -> TestClient:
    settings = Settings()
    return TestClient(create_app(settings, ctx=bootstrap(settings, store=store)))


def test_queue_over_http(store: Store) -> None:
    open_cases(
        store,
        [record("b", occurred_at="2026-11-22T09:00:00+00:00"), record("a")],
        load_programs(None),
        NOW,
        CIPHER,
    )
    with client_for(store) as client:
        response = client.get("/api/v1/programs/example/queue")
        assert response.status_code == 200
        body = response.json()
        assert [row["events"][0]["event_id"] for row in body] == ["b", "a"]
        assert set(body[0]) >= {"case_id", "tier", "status", "window_opens_at", "window_due_at"}
        assert body[0]["window_due_at"] == "2026-11-25T09:00:00Z"
        assert (
            client.get("/api/v1/programs/example/queue?limit=1").json()[0]["case_id"]
            == (body[0]["case_id"])
        )


def test_unknown_program_and_bad_limit(store: Store) -> None:
    with client_for(store) as client:
        missing = client.get("/api/v1/programs/nowhere/queue")
        assert missing.status_code == 404 and "nowhere" in missing.json()["detail"]
        assert client.get("/api/v1/programs/example/queue?limit=0").status_code == 422
        assert client.get("/healthz").json() == {"status": "ok"}

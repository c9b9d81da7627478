"""Settings as the processes take them: the shifted clock through bootstrap, and the
workers' consumer fetch wait (tests/unit/test_settings.py checks the settings alone)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.settings import Settings


def test_a_shifted_clock_is_for_development_and_tests_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from services.bootstrap import bootstrap
    from services.programs import load_programs

    monkeypatch.setenv("QRT_CLOCK_OFFSET_SECONDS", "-3600")
    ctx = bootstrap(Settings(data_dir=tmp_path), programs=load_programs(None))
    behind = datetime.now(UTC) - ctx.clock()
    assert timedelta(minutes=59) < behind < timedelta(minutes=61)
    monkeypatch.setenv("QRT_ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://qrt@db/qrt")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("QRT_PROGRAMS_FILE", str(tmp_path / "programs.toml"))
    monkeypatch.setenv("QRT_DATA_KEYS", "k1:" + "A" * 43 + "=")
    monkeypatch.setenv("QRT_INDEX_KEY", "B" * 43 + "=")
    with pytest.raises(ValidationError, match="QRT_CLOCK_OFFSET_SECONDS"):
        Settings()


def test_workers_use_the_configured_fetch_wait(tmp_path: Path) -> None:
    from services.bootstrap import bootstrap
    from workers.app import create_faust_app

    settings = Settings(
        data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1", consumer_fetch_max_wait_ms=42
    )

    async def build() -> int:
        app = create_faust_app(bootstrap(settings), "intake")
        thread = app.consumer._new_consumer_thread()
        consumer = thread._create_worker_consumer(app.transport)
        return int(consumer._fetch_max_wait_ms)

    assert asyncio.run(build()) == 42

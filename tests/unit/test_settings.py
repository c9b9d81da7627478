"""Settings: environment names, normalisation, and no quiet fallbacks in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.settings import Settings

PRODUCTION_VARS = (
    "DATABASE_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "QRT_PROGRAMS_FILE",
    "QRT_DATA_KEYS",
    "QRT_INDEX_KEY",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*PRODUCTION_VARS, "QRT_ENVIRONMENT", "QRT_DATA_DIR", "QRT_CLOCK_OFFSET_SECONDS",
                 "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "QRT_TWILIO_FROM_NUMBER",
                 "QRT_TWILIO_PUBLIC_URL", "QRT_TRUSTED_PROXIES"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def test_development_defaults() -> None:
    settings = Settings()
    assert settings.kafka_bootstrap_servers is None and settings.database_url is None
    assert settings.sqlalchemy_url.startswith("sqlite:///") and settings.sqlalchemy_url.endswith(
        ".qrt/qrt.sqlite3"
    )


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("DATABASE_URL", "postgres://qrt@db/qrt")
    monkeypatch.setenv("QRT_TOPIC_PREFIX", "county7.")
    settings = Settings()
    assert settings.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert settings.sqlalchemy_url == "postgresql+psycopg://qrt@db/qrt"
    assert settings.topic("overdose.ems.v1") == "county7.overdose.ems.v1"


def test_production_refuses_development_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QRT_ENVIRONMENT", "production")
    monkeypatch.delenv("QRT_CLOCK_OFFSET_SECONDS", raising=False)  # production: the real clock
    monkeypatch.setenv("DATABASE_URL", "postgresql://qrt@db/qrt")
    with pytest.raises(ValidationError) as caught:
        Settings()
    message = str(caught.value)
    assert "KAFKA_BOOTSTRAP_SERVERS" in message and "QRT_PROGRAMS_FILE" in message
    assert "DATABASE_URL" not in message.split("needs", 1)[1].split("to be set")[0]


def test_production_with_everything_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QRT_ENVIRONMENT", "production")
    monkeypatch.delenv("QRT_CLOCK_OFFSET_SECONDS", raising=False)  # production: the real clock
    monkeypatch.setenv("DATABASE_URL", "postgresql://qrt@db/qrt")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("QRT_PROGRAMS_FILE", str(tmp_path / "programs.toml"))
    monkeypatch.setenv("QRT_DATA_KEYS", "k1:" + "A" * 43 + "=")
    monkeypatch.setenv("QRT_INDEX_KEY", "B" * 43 + "=")
    settings = Settings()
    assert settings.environment == "production"
    assert "AAAA" not in repr(settings), "secrets never show in a repr or a log line"


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        Settings().topic_partitions = 9  # type: ignore[misc]


def _production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QRT_ENVIRONMENT", "production")
    monkeypatch.delenv("QRT_CLOCK_OFFSET_SECONDS", raising=False)  # production: the real clock
    monkeypatch.setenv("DATABASE_URL", "postgresql://qrt@db/qrt")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("QRT_PROGRAMS_FILE", str(tmp_path / "programs.toml"))
    monkeypatch.setenv("QRT_DATA_KEYS", "k1:" + "A" * 43 + "=")
    monkeypatch.setenv("QRT_INDEX_KEY", "B" * 43 + "=")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "a" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "t")
    monkeypatch.setenv("QRT_TWILIO_FROM_NUMBER", "+13045550100")


@pytest.mark.parametrize(
    ("url", "refused"),
    [(None, "needs QRT_TWILIO_PUBLIC_URL"), ("http://qrt.example.org", "absolute https"),
     ("qrt.example.org", "absolute https"), ("https://qrt.example.org", None)],
)  # fmt: skip
def test_production_with_twilio_needs_an_https_public_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str | None, refused: str | None
) -> None:
    _production(monkeypatch, tmp_path)
    if url is not None:
        monkeypatch.setenv("QRT_TWILIO_PUBLIC_URL", url)
    if refused is None:
        assert Settings().twilio_public_url == url
    else:
        with pytest.raises(ValidationError, match=refused):
            Settings()


def test_trusted_proxies_are_addresses_or_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QRT_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")
    assert Settings().trusted_proxies
    monkeypatch.setenv("QRT_TRUSTED_PROXIES", "not-an-address")
    with pytest.raises(ValidationError, match="QRT_TRUSTED_PROXIES"):
        Settings()

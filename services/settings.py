"""Typed, frozen settings from the environment."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def trusted_networks(setting: str) -> tuple[Network, ...]:
    """`QRT_TRUSTED_PROXIES` as networks (an address is a network of one)."""
    parts = [part.strip() for part in setting.split(",")]
    return tuple(ipaddress.ip_network(part, strict=False) for part in parts if part)


def _check_public_url(value: str, environment: str) -> None:
    """Twilio calls this address and signs its requests with it, and each text names it
    as its status callback: an address Twilio cannot call fails every text later. So,
    at start: absolute (scheme and host), no user, query or fragment; https outside
    development (http only for a development tunnel)."""
    url = urlsplit(value)
    schemes = ("https",) if environment != "development" else ("https", "http")
    shown = "a URL with a user name or password" if "@" in url.netloc else repr(value)
    try:
        host = url.hostname
        url.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        host = None
    if url.scheme not in schemes or not host or url.query or url.fragment or "@" in url.netloc:
        where = "in development" if environment == "development" else f"in {environment}"
        kind = "http(s)" if environment == "development" else "https"
        raise ValueError(
            f"QRT_TWILIO_PUBLIC_URL must be an absolute {kind} URL {where}, e.g. "
            f"https://qrt.example.org, with no user, query or fragment (got {shown})"
        )


class Settings(BaseSettings):
    """All knobs of one deployment. Environment names are given in each field."""

    model_config = SettingsConfigDict(frozen=True, env_prefix="QRT_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Field(default=Path(".qrt"), description="SQLite file, run files")
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "QRT_KAFKA_BOOTSTRAP_SERVERS"),
        description="host:port[,host:port]; unset = start the embedded broker",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "QRT_DATABASE_URL"),
        description="SQLAlchemy URL; unset = SQLite file in data_dir",
    )
    data_keys: SecretStr | None = Field(
        default=None, description="QRT_DATA_KEYS: id:base64key[,...], first one primary"
    )
    index_key: SecretStr | None = Field(default=None, description="QRT_INDEX_KEY: base64")
    programs_file: Path | None = Field(default=None, description="TOML; unset = bundled example")
    topic_partitions: int = Field(default=4, ge=1, le=1024)
    topic_replication: int = Field(default=1, ge=1, le=7)
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$")
    max_event_bytes: int = Field(default=MIB, ge=1024)
    future_tolerance_minutes: int = Field(default=60, ge=0)
    consumer_fetch_max_wait_ms: int = Field(
        default=100, ge=1, le=10_000, description="longest a worker's fetch waits for data"
    )
    sweep_seconds: float = Field(default=5.0, gt=0, description="timer sweep interval")
    full_plan_minutes: float = Field(default=5.0, gt=0, description="plan every program")
    twilio_account_sid: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TWILIO_ACCOUNT_SID", "QRT_TWILIO_ACCOUNT_SID"),
        description="unset = texts go to the local outbox (development)",
    )
    twilio_auth_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_AUTH_TOKEN", "QRT_TWILIO_AUTH_TOKEN")
    )
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_public_url: str | None = Field(
        default=None,
        description="public https URL the API is reached at, for webhook signatures",
    )
    twilio_api_base_url: str | None = Field(
        default=None, description="another Messages API endpoint (tests, gateways)"
    )
    gateway_max_batch_bytes: int = Field(default=5 * MIB, ge=1024, description="POST /events")
    gateway_max_nemsis_bytes: int = Field(default=50 * MIB, ge=1024, description="NEMSIS XML")
    nemsis_max_elements_per_report: int = Field(
        default=20_000, ge=100, le=10_000_000, description="a bigger NEMSIS report is refused"
    )
    gateway_ack_seconds: float = Field(
        default=10.0, gt=0, le=120, description="longest wait for the broker's ack, else 503"
    )
    gateway_inbox: bool = Field(
        default=False,
        description="keep accepted events in the store until stored as cases (qrt up turns "
        "it on with the embedded broker, which keeps its topics in memory)",
    )
    sms_rate_per_second: float = Field(default=1.0, gt=0, le=1000, description="per sender")
    sms_concurrency: int = Field(default=4, ge=1, le=64)
    sms_max_tries: int = Field(
        default=8,
        ge=1,
        le=100,
        description="sends of one text whose fate stayed unknown (no answer, then not found "
        "at Twilio) before it is failed; Twilio away, throttling or a 401 never use one up",
    )
    sms_retry_first_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="first wait of a paused sender before a probe"
    )
    sms_retry_max_seconds: float = Field(
        default=600.0,
        gt=0,
        le=86400,
        description="longest wait between probes while Twilio is away (Retry-After may be longer)",
    )
    session_hours: float = Field(default=12.0, gt=0, le=168, description="a page sign-in")
    token_days: float = Field(default=90.0, gt=0, le=3650, description="an API bearer token")
    login_max_failures: int = Field(
        default=10, ge=1, le=1000, description="failed sign-ins that lock an account"
    )
    login_lock_minutes: float = Field(
        default=15.0, gt=0, le=1440, description="the window those failures are counted in"
    )
    sign_in_rate_per_minute: float = Field(
        default=10, gt=0, le=10_000, description="sign-ins per source address and per account"
    )
    gateway_rate_per_minute: float = Field(
        default=6000,
        gt=0,
        le=10_000_000,
        description="gateway calls per agency key and per source address",
    )
    cookie_secure: bool | None = Field(
        default=None, description="Secure cookies; unset = on in production only"
    )
    live_poll_seconds: float = Field(default=1.0, gt=0, le=60, description="live page updates")
    clock_offset_seconds: float = Field(
        default=0.0,
        ge=-10 * 365 * 86400,
        le=10 * 365 * 86400,
        description="development and tests only: every process runs this far from real time",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="a worker serves its metrics on this port (0: a free one); unset: none",
    )
    metrics_host: str = "127.0.0.1"
    api_docs: Literal["open", "staff", "off"] | None = Field(
        default=None,
        description="/docs and /openapi.json: open, staff (signed in) or off; "
        "unset = open in development, staff in production",
    )
    trusted_proxies: str = Field(
        default="",
        description="addresses or networks of our own proxies, comma-separated: only their "
        "X-Forwarded-* headers are believed",
    )
    up_workers: Literal["one", "separate"] = Field(
        default="one",
        description="`qrt up` runs the worker roles in one process, or one process each",
    )
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "INFO"

    @field_validator(
        "twilio_account_sid",
        "twilio_auth_token",
        "twilio_from_number",
        "twilio_messaging_service_sid",
        "twilio_public_url",
        "twilio_api_base_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("database_url")
    @classmethod
    def _normalize_postgres(cls, value: str | None) -> str | None:
        if value and value.startswith(("postgres://", "postgresql://")):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @model_validator(mode="after")
    def _no_development_defaults_in_production(self) -> Self:
        """In production nothing falls back quietly to SQLite, the embedded broker or
        the invented example program."""
        if self.environment == "production":
            missing = [
                name
                for name, value in (
                    ("DATABASE_URL", self.database_url),
                    ("KAFKA_BOOTSTRAP_SERVERS", self.kafka_bootstrap_servers),
                    ("QRT_PROGRAMS_FILE", self.programs_file),
                    ("QRT_DATA_KEYS", self.data_keys),
                    ("QRT_INDEX_KEY", self.index_key),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    f"QRT_ENVIRONMENT=production needs {', '.join(missing)} to be set; "
                    "the development defaults are not for real data"
                )
            if self.clock_offset_seconds:
                raise ValueError(
                    "QRT_CLOCK_OFFSET_SECONDS is for development and tests; production runs "
                    "on the real clock"
                )
        return self

    @model_validator(mode="after")
    def _twilio_complete(self) -> Self:
        if self.twilio_account_sid and self.environment == "production":
            if not self.twilio_public_url:
                raise ValueError(
                    "QRT_ENVIRONMENT=production with Twilio needs QRT_TWILIO_PUBLIC_URL, the "
                    "https address Twilio calls (webhook signatures are checked against it)"
                )
        if self.twilio_public_url:
            _check_public_url(self.twilio_public_url, self.environment)
        if self.sms_retry_first_seconds > self.sms_retry_max_seconds:
            raise ValueError("QRT_SMS_RETRY_FIRST_SECONDS is more than QRT_SMS_RETRY_MAX_SECONDS")
        try:
            trusted_networks(self.trusted_proxies)
        except ValueError as exc:
            raise ValueError(f"QRT_TRUSTED_PROXIES: {exc}") from exc
        if self.twilio_account_sid:
            if not self.twilio_auth_token:
                raise ValueError("TWILIO_ACCOUNT_SID is set but TWILIO_AUTH_TOKEN is not")
            if bool(self.twilio_from_number) == bool(self.twilio_messaging_service_sid):
                raise ValueError(
                    "set exactly one of QRT_TWILIO_FROM_NUMBER and QRT_TWILIO_MESSAGING_SERVICE_SID"
                )
        return self

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.environment == "production"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'qrt.sqlite3').resolve()}"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

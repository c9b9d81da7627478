"""The real parts tests run against: SQLite, PostgreSQL, the embedded broker (tansu), the
keys. Nothing mocked. Loaded by tests/integration, tests/e2e and tests/browser."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from services.crypto.fields import FieldCipher
from services.crypto.keys import keyring_from_text, new_key_text
from services.runtime.embedded_broker import EmbeddedBroker
from services.store.database import make_engine, migrate
from services.store.repository import Store

PG_ADMIN_URL = os.environ.get(
    "QRT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the local PostgreSQL for this session; dropped afterwards.

    PostgreSQL must be running (`.ci/run` makes sure it is): a missing server is a
    failure, never a skip.
    """
    name = f"qrt_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is needed by the store tests: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def fresh_pg_schema(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store test runs twice: on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'qrt.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    fresh_pg_schema(url)
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    engine = make_engine(database_url)
    migrate(engine)
    store = Store(engine)
    yield store
    store.dispose()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded broker (tansu, memory storage) for the session; tests use own topics."""
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log_file=log) as running:
        yield running.bootstrap_servers


@pytest.fixture
def topic_prefix() -> str:
    """Memory storage never deletes: every test gets topics (and groups) of its own."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="session")
def cipher() -> FieldCipher:
    """Real AES-GCM and HMAC keys, fresh for the session."""
    return FieldCipher(
        keyring_from_text(new_key_text("test1"), base64.b64encode(b"i" * 32).decode())
    )

"""Store and broker fixtures for these tests (tests/stack_fixtures.py)."""

from tests.stack_fixtures import (  # noqa: F401 (fixtures)
    broker,
    cipher,
    database_url,
    postgres_url,
    store,
    topic_prefix,
)

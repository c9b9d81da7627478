"""What every test shares: the session's clock (`--clock-at`) and a clock to move by hand.
The store and broker fixtures live in tests/stack_fixtures.py, loaded by the conftest of
the test folders that use them: `pytest tests/unit` needs neither a database nor a broker."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from tests import wall_clock


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock-at",
        metavar="HH:MM",
        help="run every process and test clock as if it were this time of day in "
        "America/New_York today (sets QRT_CLOCK_OFFSET_SECONDS for the session)",
    )


def pytest_configure(config: pytest.Config) -> None:
    at = config.getoption("--clock-at")
    if at:
        os.environ[wall_clock.OFFSET_VARIABLE] = str(wall_clock.offset_for(at))


def pytest_report_header(config: pytest.Config) -> str:
    return f"clock: {wall_clock.now().astimezone(wall_clock.ZONE).isoformat()} (New York)"


class FakeClock:
    """A clock the test moves by hand: rules about time are tested without sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 22, 15, 0, tzinfo=UTC))

"""Fixtures of the browser tests: one real stack per module and Debian's Chromium,
headless, driven by Playwright. A missing browser fails the tests; it never skips them
(`bash deploy/ensure-chromium.sh` installs it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Error, Page, sync_playwright

from tests.browser.stack import AGENCY, RunningStack

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = RunningStack.start(tmp_path_factory.mktemp("stack"))
    try:
        said = running.qrt("agency", "create", AGENCY, "--label", "browser tests")
        running.agency_key = said.strip().splitlines()[-1]
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium; "
            "run `bash deploy/ensure-chromium.sh` (make test does)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        except Error as exc:
            pytest.fail(f"{CHROMIUM} did not start headless: {exc}", pytrace=False)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test; JS errors on the page fail the test."""
    context = chromium.new_context()
    context.set_default_timeout(20_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()  # closes the live connection before the stack stops
    assert errors == [], f"JavaScript errors on the page: {errors}"


SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"  # test artefacts, not committed
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def screenshots(page: Page, name: str) -> list[Path]:
    """The page at desktop size and at 390x844 (a phone), full length, into
    tests/browser/screenshots/; the page is left at desktop size."""
    SCREENSHOTS.mkdir(exist_ok=True)
    taken = []
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        path = SCREENSHOTS / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
    page.set_viewport_size(DESKTOP)
    return taken

"""A NEMSIS v3.5.1 export posted to the running stack's gateway, then its case page and
the person's page in headless Chromium: the middle name, the age for want of a DOB, the
second phone as a second `tel:` link, the scene's room and words, the residence's
apartment, the destination and the agency's name. Screenshots at desktop size and
390x844 go to tests/browser/screenshots/."""

from __future__ import annotations

import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests import wall_clock
from tests.browser.conftest import screenshots
from tests.browser.stack import RunningStack
from tests.browser.test_case_page import _case_of, _member, _no_overflow

pytestmark = [pytest.mark.browser, pytest.mark.broker]

FILE = Path(__file__).resolve().parents[1] / "data" / "nemsis" / "v351_full_report.xml"
EVENT_ID = "5f1b6e0a-0351-4a6e-9b1a-000000000351"


def _post_export(stack: RunningStack) -> None:
    at = (wall_clock.now() - timedelta(hours=5)).isoformat(timespec="seconds")
    body = FILE.read_bytes().replace(b"2026-11-22T08:30:00-05:00", at.encode())
    request = urllib.request.Request(  # noqa: S310 (loopback URL)
        stack.api + "/api/v1/events/nemsis", data=body, method="POST",
        headers={"Authorization": f"Bearer {stack.agency_key}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        assert answer.status == 202


def test_what_a_nemsis_report_holds_is_on_the_case_page(page: Page, stack: RunningStack) -> None:
    _post_export(stack)
    _member(page, stack, "sam_coord", "coordinator")
    case_id = _case_of(page, stack, EVENT_ID)
    page.goto(f"{stack.api}/cases/{case_id}")
    expect(page.locator("#person-name")).to_have_text("Alex Jordan Testperson")
    expect(page.locator("#person-age")).to_have_text("age 36")
    assert page.get_attribute("#person-phone", "href") == "tel:3045550142"
    other = page.locator("a.other-phone")
    expect(other).to_have_text("304-555-0199")
    assert other.get_attribute("href") == "tel:3045550199"
    places = page.locator("#places")
    expect(places).to_contain_text("400 River Rd, Room 12")
    expect(places).to_contain_text("Riverside Motel; behind the ice machine")
    expect(places).to_contain_text("1200 Example Ave, Apt 4B")
    scene = page.locator("#places a.geo").first
    assert "Room" not in (scene.get_attribute("href") or ""), "the map gets the street only"
    reports = page.locator("section", has_text="Reports")
    expect(reports).to_contain_text("Example County EMS")
    expect(reports).to_contain_text("taken to Cabell Example Hospital")
    expect(reports).to_contain_text("naloxone given by Law Enforcement")
    _no_overflow(page)
    screenshots(page, "nemsis-case")
    page.click("#person-link")
    expect(page.locator("#person-name")).to_have_text("Alex Jordan Testperson")
    expect(page.locator("a.other-phone")).to_have_text("304-555-0199")
    _no_overflow(page)
    screenshots(page, "nemsis-person")

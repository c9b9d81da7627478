"""The case page and the person's page in headless Chromium against the running stack,
as the team uses them: where to go (the scene and the residence, `geo:` and `tel:`
links), a full visit record saved from the page, what law enforcement and a program
manager see of it, and a repeat overdose after a closed case on the person's page.
Screenshots at desktop size and 390x844 go to tests/browser/screenshots/."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, screenshots
from tests.browser.stack import PROGRAM, RunningStack, overdose
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.broker]

LIVE_S = 60  # publish -> intake -> case worker -> store, on a busy 2-core box
PERSON = {
    "first_name": "Rowan", "last_name": "Castellano", "dob": "1988-03-09",
    "phone": "+13045550199",
    "address": {"address": "88 Hal Greer Blvd", "city": "Huntington", "state": "WV",
                "zip": "25701"},
}  # fmt: skip
SCENE = {
    "address": "1200 3rd Ave", "city": "Huntington", "state": "WV", "zip": "25701",
    "county_fips": "54011", "lat": 38.4213, "lon": -82.4431,
    "description": "bus shelter by the library",
}  # fmt: skip


def _event(event_id: str, hours_ago: float) -> dict[str, Any]:
    return {**overdose(event_id, PERSON, hours_ago), "location": SCENE}  # type: ignore[arg-type]


def _member(page: Page, stack: RunningStack, username: str, role: str) -> None:
    password = secrets.token_urlsafe(16)
    stack.qrt(
        "user", "create", username, "--role", role, "--program", PROGRAM, "--password-stdin",
        stdin=password + "\n",
    )  # fmt: skip
    page.goto(stack.api + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page.locator("header .who")).to_have_text(username)


def _case_of(page: Page, stack: RunningStack, event_id: str) -> str:
    def found() -> str | None:
        answer = page.request.get(
            f"{stack.api}/api/v1/programs/{PROGRAM}/queue?status=all&limit=500"
        )
        assert answer.ok, answer.text()
        for item in answer.json()["items"]:
            if any(e["event_id"] == event_id for e in item["events"]):
                return str(item["case_id"])
        return None

    case_id: str = wait_for(found, LIVE_S, f"a case for event {event_id}", every_s=0.3)
    return case_id


def _no_overflow(page: Page) -> None:
    page.set_viewport_size(PHONE)
    wide = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert wide[0] <= wide[1], f"horizontal overflow at 390 px: {wide}"
    page.set_viewport_size({"width": 1280, "height": 900})


def test_where_to_go_and_a_visit_recorded_from_the_page(page: Page, stack: RunningStack) -> None:
    stack.publish(_event("case-page-1", hours_ago=20))
    _member(page, stack, "robin_peer", "outreach")
    case_id = _case_of(page, stack, "case-page-1")
    page.goto(f"{stack.api}/cases/{case_id}")
    scene = page.locator("#places a.geo").first
    expect(scene).to_contain_text("1200 3rd Ave")
    assert (scene.get_attribute("href") or "").startswith("geo:38.4213,-82.4431")
    expect(page.locator("#places")).to_contain_text("bus shelter by the library")
    expect(page.locator("#places")).to_contain_text("88 Hal Greer Blvd")
    assert page.get_attribute("#person-phone", "href") == "tel:+13045550199"
    # no result chosen in advance; the time is editable and the window shown
    assert page.locator("#attempt-result").input_value() == ""
    expect(page.locator("#attempt-form")).to_contain_text("Visit window")
    _no_overflow(page)
    screenshots(page, "case-where-to-go")

    page.select_option("#attempt-result", "contacted_declined_future_interest")
    page.select_option("#attempt-method", "in_person")
    page.check("input[name=people_met][value=client]")
    page.check("input[name=people_met][value=family]")
    page.check("input[name=barriers][value=transportation]")
    page.check("input[name=services][value=naloxone_kit]")
    page.fill("#attempt-notes", "Sister was there; he wants a ride to the clinic next week.")
    page.click("#record")
    expect(page.locator(".message")).to_have_text("Attempt 1 saved.")
    attempts = page.locator("#attempts")
    expect(attempts).to_contain_text("Sister was there")
    expect(attempts).to_contain_text("Naloxone kit")
    expect(attempts).to_contain_text("Transportation")
    expect(attempts).to_contain_text("In person")
    screenshots(page, "case-attempt-saved")

    page.click("#person-link")
    expect(page.locator("#person-name")).to_contain_text("Rowan Castellano")
    expect(page.locator("#cases")).to_contain_text("Sister was there")
    _no_overflow(page)
    screenshots(page, "person-page")

    officer = page.context.browser.new_context()  # type: ignore[union-attr]
    try:
        seen = officer.new_page()
        _member(seen, stack, "casey_officer", "law_enforcement")
        seen.goto(f"{stack.api}/cases/{case_id}")
        listed = seen.locator("#attempts")
        expect(listed).to_contain_text("Contacted")
        expect(listed).to_contain_text("In person")
        expect(listed).not_to_contain_text("Sister was there")
        expect(listed).not_to_contain_text("Naloxone kit")
        expect(seen.locator("#case-tier")).to_have_text("Follow-up")
        screenshots(seen, "case-law-enforcement")
    finally:
        officer.close()

    manager = page.context.browser.new_context()  # type: ignore[union-attr]
    try:
        seen = manager.new_page()
        _member(seen, stack, "morgan_pm", "program_manager")
        seen.goto(f"{stack.api}/cases/{case_id}")
        expect(seen.locator("h1")).to_contain_text(f"Case {case_id[:8]}")
        assert seen.locator("a[href^='geo:']").count() == 0
        assert seen.locator("a[href^='tel:']").count() == 0
        expect(seen.locator("body")).not_to_contain_text("3rd Ave")
        screenshots(seen, "case-program-manager")
    finally:
        manager.close()


def test_a_repeat_overdose_after_a_closed_case_shows_both_cases(
    page: Page, stack: RunningStack
) -> None:
    stack.publish(_event("case-page-2", hours_ago=30))
    _member(page, stack, "jules_coord", "coordinator")
    first = _case_of(page, stack, "case-page-2")
    page.goto(f"{stack.api}/cases/{first}")
    page.select_option("#attempt-result", "contacted_declined")
    page.select_option("#attempt-method", "phone")
    page.check("input[name=close]")
    page.click("#record")
    expect(page.locator(".message")).to_contain_text("The case is closed.")
    stack.publish(_event("case-page-3", hours_ago=3))
    second = _case_of(page, stack, "case-page-3")
    assert second != first
    page.goto(f"{stack.api}/cases/{second}")
    page.click("#person-link")
    cases = page.locator("#cases article.person-case")
    expect(page.locator(f"#case-{first}")).to_contain_text("Contacted: declined")
    expect(page.locator(f"#case-{second}")).to_be_visible()
    assert cases.count() >= 2
    _no_overflow(page)
    screenshots(page, "person-two-cases")

"""The contacts on the case page in headless Chromium against the running stack: a
member adds a family member (with a `tel:` link), and after a fatal report of the
client the family's own case opens with that contact copied (the timer worker's sweep).
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

LIVE_S = 60  # publish -> intake -> case worker -> store (-> timer worker), on a busy box
PERSON = {
    "first_name": "Marlowe", "last_name": "Achterberg", "dob": "1979-10-21",
    "phone": "+13045550133",
    "address": {"address": "14 Bridge St", "city": "Huntington", "state": "WV", "zip": "25701"},
}  # fmt: skip


def _sign_in(page: Page, stack: RunningStack, username: str, role: str) -> None:
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


def _queue(page: Page, stack: RunningStack) -> list[dict[str, Any]]:
    answer = page.request.get(f"{stack.api}/api/v1/programs/{PROGRAM}/queue?status=all&limit=500")
    assert answer.ok, answer.text()
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _case_of(page: Page, stack: RunningStack, event_id: str) -> str:
    def found() -> str | None:
        for item in _queue(page, stack):
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


def test_a_contact_added_on_the_case_page_and_the_familys_case_after_a_death(
    page: Page, stack: RunningStack
) -> None:
    stack.publish(overdose("contacts-1", PERSON, hours_ago=20))
    _sign_in(page, stack, "sky_coord", "coordinator")
    case_id = _case_of(page, stack, "contacts-1")
    page.goto(f"{stack.api}/cases/{case_id}")
    expect(page.locator("#contacts")).to_contain_text("None known.")
    page.fill("#contact-name", "Wren Achterberg")
    page.select_option("#contact-relation", "family")
    page.fill("#contact-phone", "(304) 555-0166")
    page.check("#contact-consent")
    page.click("#add-contact")
    expect(page.locator(".message")).to_have_text("Contact Wren Achterberg added.")
    listed = page.locator("#contact-list li.contact")
    expect(listed).to_have_count(1)
    expect(listed.first).to_contain_text("Wren Achterberg")
    expect(listed.first).to_contain_text("Family")
    expect(listed.first).to_contain_text("agreed to texts")
    tel = listed.first.locator("a.tel")
    assert tel.get_attribute("href") == "tel:+13045550166"
    expect(page.locator("#attempt-contact")).to_contain_text("Wren Achterberg (Family)")
    _no_overflow(page)
    screenshots(page, "case-contacts")

    stack.publish({**overdose("contacts-2", PERSON, hours_ago=2), "fatal": True})

    def family_case() -> str | None:
        kinds = {i["case_id"]: i for i in _queue(page, stack) if i["kind"] == "family_support"}
        return next(iter(kinds), None)

    family_id: str = wait_for(family_case, LIVE_S, "the family's case after the death")
    page.goto(f"{stack.api}/cases/{family_id}")
    expect(page.locator("#family-support")).to_contain_text("Family support after a death")
    copied = page.locator("#contact-list li.contact")
    expect(copied).to_have_count(1)
    expect(copied.first).to_contain_text("Wren Achterberg")
    assert copied.first.locator("a.tel").get_attribute("href") == "tel:+13045550166"
    expect(page.locator("#contact-needed")).to_have_count(0)
    _no_overflow(page)
    screenshots(page, "case-family-support")

    page.goto(f"{stack.api}/programs/{PROGRAM}/queue")
    row = page.locator(f'tr[data-case="{family_id}"]')
    expect(row).to_be_visible()
    assert "tier-family_support" in (row.get_attribute("class") or "")
    expect(row.locator(".flag.contact-needed")).to_have_count(0)
    _no_overflow(page)
    screenshots(page, "queue-family-support")

    page.goto(f"{stack.api}/cases/{case_id}")
    expect(page.locator("#case-status")).to_contain_text("Deceased")

"""The staff's referral form in headless Chromium against the running stack: a
coordinator opens it from the queue, sends a family referral, and lands on its case with
the referral on it (who referred, a tel: link, the notes); a form that gives no way to
reach the person is shown again with the reason and what was typed; a law-enforcement
member's form has no notes, and their case page shows who referred but neither the kind
nor the notes. Screenshots at desktop size and 390x844 go to tests/browser/screenshots/;
nothing scrolls sideways at 390 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshots
from tests.browser.stack import PROGRAM, RunningStack
from tests.browser.test_case_page import _member, _no_overflow

pytestmark = [pytest.mark.browser, pytest.mark.broker]

REFERRER_PHONE = "+13045550176"
NOTES = "Her mother says she is using alone at night; call the mother first."


def _fill_family_referral(page: Page) -> None:
    page.select_option("#referral-kind", "family")
    page.select_option("#referral-urgency", "today")
    page.fill("#referral-first-name", "Odalys")
    page.fill("#referral-last-name", "Brenningham")
    page.fill("#referral-phone", "+13045550175")
    page.fill("#referral-city", "Huntington")
    page.fill("#referral-where", "the laundromat on 8th St")
    page.fill("#referral-referrer-name", "Carmen Brenningham")
    page.fill("#referral-referrer-relation", "mother")
    page.fill("#referral-referrer-phone", REFERRER_PHONE)
    page.select_option("#referral-consent-visit", "yes")


def test_a_coordinator_sends_a_referral_from_the_queue_and_sees_its_case(
    page: Page, stack: RunningStack
) -> None:
    _member(page, stack, "riley_coord", "coordinator")
    page.goto(f"{stack.api}/programs/{PROGRAM}/queue")
    page.click("#new-referral")
    expect(page.locator("h1")).to_contain_text("New referral")
    _fill_family_referral(page)
    page.fill("#referral-notes", NOTES)
    _no_overflow(page)
    screenshots(page, "referral-form")

    page.click("#send-referral")
    expect(page.locator(".message")).to_have_text("Referral recorded.", timeout=60_000)
    expect(page.locator("h1")).to_contain_text("Case")
    referrals = page.locator("#referrals")
    expect(referrals).to_contain_text("Family")
    expect(referrals).to_contain_text("Today")
    expect(referrals).to_contain_text("Carmen Brenningham (mother)")
    expect(referrals).to_contain_text("the laundromat on 8th St")
    expect(referrals).to_contain_text(NOTES)
    assert page.get_attribute("a.referrer-phone", "href") == f"tel:{REFERRER_PHONE}"
    expect(page.locator("#person-name")).to_contain_text("Odalys Brenningham")
    _no_overflow(page)
    screenshots(page, "referral-case")

    case_path = page.url.split("?")[0].removeprefix(stack.api)
    page.goto(f"{stack.api}/programs/{PROGRAM}/queue")
    row = page.locator(f"tr[data-case='{case_path.rsplit('/', 1)[1]}']")
    expect(row).to_contain_text("Family")
    _no_overflow(page)
    screenshots(page, "referral-queue")

    officer = page.context.browser.new_context()  # type: ignore[union-attr]
    try:
        seen = officer.new_page()
        _member(seen, stack, "avery_officer", "law_enforcement")
        seen.goto(stack.api + case_path)
        theirs = seen.locator("#referrals")
        expect(theirs).to_contain_text("Carmen Brenningham")
        expect(theirs).not_to_contain_text(NOTES)
        expect(theirs).not_to_contain_text("Family")
        seen.goto(f"{stack.api}/programs/{PROGRAM}/referrals/new")
        assert seen.locator("#referral-notes").count() == 0
    finally:
        officer.close()


def test_a_referral_without_a_way_to_reach_the_person_is_shown_again_with_the_reason(
    page: Page, stack: RunningStack
) -> None:
    _member(page, stack, "sasha_peer", "outreach")
    page.goto(f"{stack.api}/programs/{PROGRAM}/referrals/new")
    page.select_option("#referral-kind", "friend")
    page.fill("#referral-first-name", "Wren")
    page.fill("#referral-referrer-name", "Jo")
    page.click("#send-referral")
    expect(page.locator(".error")).to_contain_text("a way to reach the person")
    assert page.locator("#referral-first-name").input_value() == "Wren"  # nothing retyped
    assert page.locator("#referral-kind").input_value() == "friend"
    _no_overflow(page)
    screenshots(page, "referral-form-refused")
    page.fill("#referral-where", "the bench outside the library")
    page.click("#send-referral")
    expect(page.locator(".message")).to_have_text("Referral recorded.", timeout=60_000)
    expect(page.locator("#referrals")).to_contain_text("A friend")

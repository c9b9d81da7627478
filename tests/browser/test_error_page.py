"""Error pages in headless Chromium against the running stack (`qrt up`): a case or a
program that is not there, asked for in the browser, is a page in words with a way
back, readable at desktop size and at 390x844; the API asked for in the same browser
still answers JSON."""

from __future__ import annotations

import json
import secrets

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, screenshots
from tests.browser.stack import RunningStack

pytestmark = [pytest.mark.browser, pytest.mark.broker]


def sign_in_to(page: Page, stack: RunningStack, path: str) -> None:
    """A new coordinator signs in through the form that `path` sent them to."""
    username, password = f"err{secrets.token_hex(3)}", secrets.token_urlsafe(16)
    stack.create_coordinator(username, password)
    page.goto(stack.api + path)
    expect(page).to_have_url(f"{stack.api}/login?next={path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page).to_have_url(stack.api + path)


def fits_the_phone(page: Page) -> None:
    page.set_viewport_size(PHONE)
    width = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert width[0] <= width[1], f"the page is wider than the phone: {width}"


def test_a_missing_case_is_a_readable_page_and_the_api_stays_json(
    stack: RunningStack, page: Page
) -> None:
    sign_in_to(page, stack, "/cases/not-a-case")
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator("#error-detail")).to_have_text("No case 'not-a-case'.")
    expect(page.locator("#error-page")).to_contain_text("merged into another one")
    assert page.locator("pre").count() == 0 and "{" not in page.inner_text("main")
    answer = page.goto(stack.api + "/cases/not-a-case")
    assert answer is not None and answer.status == 404
    assert answer.headers["content-type"].startswith("text/html")
    fits_the_phone(page)
    for path in screenshots(page, "error-missing-case"):
        assert path.stat().st_size > 0

    page.click("#error-home")  # the way back: the coordinator's work queue
    expect(page).to_have_url(f"{stack.api}/programs/example/queue")

    unknown = page.goto(stack.api + "/programs/nope/queue")
    assert unknown is not None and unknown.status == 404
    expect(page.locator("#error-detail")).to_have_text("No program 'nope'; your programs: example.")
    expect(page.locator("#error-page")).to_contain_text("the program is not one of yours")
    fits_the_phone(page)
    screenshots(page, "error-unknown-program")

    api = page.goto(stack.api + "/api/v1/cases/not-a-case")
    assert api is not None and api.status == 404
    assert api.headers["content-type"].startswith("application/json")
    assert json.loads(api.text()) == {"detail": "no case 'not-a-case'"}


def test_a_page_that_is_not_there_offers_to_sign_in(stack: RunningStack, page: Page) -> None:
    answer = page.goto(stack.api + "/no-such-page")
    assert answer is not None and answer.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator("#error-detail")).to_have_count(0)
    expect(page.locator("#error-page")).to_contain_text("There is no page at this address")
    link = page.locator("#error-sign-in")
    expect(link).to_have_attribute("href", "/login?next=/no-such-page")
    fits_the_phone(page)
    screenshots(page, "error-signed-out")
    link.click()
    expect(page.locator("h1")).to_have_text("Sign in")

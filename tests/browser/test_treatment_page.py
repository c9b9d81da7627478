"""A referral to treatment on the case page, in headless Chromium against the running
stack: a coordinator refers the client to one of the program's providers; the provider,
with its own key (`qrt provider create-key`), reports that the client entered treatment;
the case page and the person's page then show the date, and a law-enforcement member
sees that a referral was made and when, not where to. Screenshots at desktop size and
390x844 go to tests/browser/screenshots/."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshots
from tests.browser.stack import RunningStack, overdose
from tests.browser.test_case_page import _case_of, _member, _no_overflow

pytestmark = [pytest.mark.browser, pytest.mark.broker]

PERSON = {
    "first_name": "Marisol", "last_name": "Tennant", "dob": "1979-12-02",
    "phone": "+13045550173",
}  # fmt: skip
PROVIDER = "harbor-moud"  # of the example program (services/example_programs.toml)
ZONE = ZoneInfo("America/New_York")  # the example program's


def _as_provider(stack: RunningStack, key: str, method: str, path: str, body: Any) -> Any:
    request = urllib.request.Request(  # noqa: S310 (loopback URL)
        stack.api + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        assert answer.status == 200
        return json.load(answer)


def _day(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(ZONE).strftime("%d %b %Y")


def test_refer_on_the_case_page_and_see_the_provider_confirm_it(
    page: Page, stack: RunningStack
) -> None:
    stack.publish(overdose("treatment-page-1", PERSON, hours_ago=26))
    _member(page, stack, "avery_coord", "coordinator")
    case_id = _case_of(page, stack, "treatment-page-1")
    page.goto(f"{stack.api}/cases/{case_id}")
    section = page.locator("#treatment")
    expect(section).to_contain_text("None.")
    page.select_option("#treatment-provider", PROVIDER)
    page.click("#treatment-refer-button")
    expect(page.locator(".message")).to_have_text("Referred to Harbor Medication Clinic.")
    referral = section.locator("li.treatment-referral")
    expect(referral).to_have_count(1)
    expect(referral).to_contain_text("Harbor Medication Clinic")
    expect(referral).to_contain_text("Referred")
    referral_id = (referral.get_attribute("id") or "").removeprefix("treatment-")
    screenshots(page, "treatment-referred")

    said = stack.qrt("provider", "create-key", PROVIDER, "--program", "example")
    key = said.strip().splitlines()[-1]
    mine = _as_provider(stack, key, "GET", "/api/v1/treatment-referrals", None)
    (listed,) = [r for r in mine["items"] if r["id"] == referral_id]
    assert (listed["first_name"], listed["dob"], listed["state"]) == (
        "Marisol", "1979-12-02", "referred",
    )  # fmt: skip
    assert "Tennant" not in json.dumps(mine) and "+1304" not in json.dumps(mine)
    moved = _as_provider(
        stack, key, "POST", f"/api/v1/treatment-referrals/{referral_id}/status",
        {"state": "entered"},
    )  # fmt: skip
    assert moved == {"id": referral_id, "state": "entered", "changed": True}

    page.goto(f"{stack.api}/cases/{case_id}")
    detail = page.request.get(f"{stack.api}/api/v1/cases/{case_id}").json()
    entered = _day(detail["treatment"][0]["entered_at"])
    expect(referral).to_have_attribute("data-state", "entered")
    expect(referral.locator("[data-what=entered]")).to_have_text(f"Entered {entered}")
    expect(referral.locator(".treatment-state")).to_have_text("Entered treatment")
    expect(referral.locator("select[name=state] option")).to_have_text(
        ["In treatment at 30 days"]
    )  # the one move forward from entered
    _no_overflow(page)
    screenshots(page, "treatment-entered")
    referral.locator("form.treatment-move button").click()  # 30 days have not passed
    expect(page.locator(".error")).to_contain_text("needs 30 days in treatment")
    expect(referral).to_have_attribute("data-state", "entered")

    page.click("#person-link")
    expect(page.locator(f"#case-{case_id}")).to_contain_text(f"Entered {entered}")
    _no_overflow(page)
    screenshots(page, "treatment-person-page")

    officer = page.context.browser.new_context()  # type: ignore[union-attr]
    try:
        seen = officer.new_page()
        _member(seen, stack, "taylor_officer", "law_enforcement")
        seen.goto(f"{stack.api}/cases/{case_id}")
        shown = seen.locator("#treatment li.treatment-referral")
        expect(shown).to_contain_text("Referral to treatment")
        expect(shown).to_contain_text("Referred")
        expect(shown).not_to_contain_text("Entered")  # not what became of it
        expect(seen.locator("#treatment")).not_to_contain_text("Harbor")
        expect(seen.locator("#treatment")).not_to_contain_text("Medication")
        assert seen.locator("#treatment form").count() == 0
        _no_overflow(seen)
        screenshots(seen, "treatment-law-enforcement")
    finally:
        officer.close()

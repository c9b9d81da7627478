"""An engaged client from the case page, in headless Chromium against the running stack:
the team reaches the client, keeps in touch with a next check-in ten days ahead and a
cadence, the timer worker plans the case again inside the check-in's window, the queue
lists it in its own tier with the date, and a law-enforcement member sees none of it.
Screenshots at desktop size and 390x844 go to tests/browser/screenshots/."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests import wall_clock
from tests.browser.conftest import screenshots
from tests.browser.stack import PROGRAM, RunningStack, overdose
from tests.browser.test_case_page import _case_of, _member, _no_overflow
from tests.support import wait_for

# the planner of the running stack places the check-in on the shifts of its days
pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.time_of_day]

PERSON = {
    "first_name": "Marisol", "last_name": "Okonkwo-Reyes", "dob": "1979-07-14",
    "phone": "+13045550177",
    "address": {"address": "410 W 14th St", "city": "Huntington", "state": "WV",
                "zip": "25704"},
}  # fmt: skip


def _planned(page: Page, stack: RunningStack, case_id: str) -> dict[str, Any]:
    def planned() -> dict[str, Any] | None:
        answer = page.request.get(f"{stack.api}/api/v1/cases/{case_id}")
        assert answer.ok, answer.text()
        body: dict[str, Any] = answer.json()
        plan = body["planned"]
        return body if plan and plan["visit_from"] >= body["window_opens_at"] else None

    found: dict[str, Any] = wait_for(planned, 60, "the check-in planned", every_s=0.3)
    return found


def test_a_contacted_client_kept_in_touch_from_the_case_page(
    page: Page, stack: RunningStack
) -> None:
    stack.publish(overdose("engaged-1", PERSON, hours_ago=20))
    _member(page, stack, "noor_coord", "coordinator")
    case_id = _case_of(page, stack, "engaged-1")
    page.goto(f"{stack.api}/cases/{case_id}")
    expect(page.locator("#engagement-needs-contact")).to_be_visible()
    page.select_option("#attempt-result", "contacted_declined_future_interest")
    page.select_option("#attempt-method", "in_person")
    page.click("#record")
    expect(page.locator(".message")).to_have_text("Attempt 1 saved.")

    checkin_day = (wall_clock.now().astimezone(wall_clock.ZONE) + timedelta(days=10)).date()
    checkin = datetime(checkin_day.year, checkin_day.month, checkin_day.day, 10, 0,
                       tzinfo=wall_clock.ZONE)  # fmt: skip
    page.fill("#engagement-next", checkin.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#engagement-every", "14")
    page.locator("#engagement-every").blur()  # no caret in the screenshots
    _no_overflow(page)
    screenshots(page, "case-engagement-form")
    page.click("#engage")
    said = checkin.strftime("%a %d %b %H:%M")
    expect(page.locator(".message")).to_have_text(f"Staying in touch: the next check-in is {said}.")
    expect(page.locator("#case-tier")).to_have_text("Staying in touch")
    expect(page.locator("#next-checkin")).to_have_text(said)
    expect(page.locator("#checkin-cadence")).to_have_text("every 14 days")
    expect(page.locator("#case-window")).to_contain_text(said)

    detail = _planned(page, stack, case_id)
    due = datetime.fromisoformat(detail["window_due_at"])
    assert datetime.fromisoformat(detail["next_checkin_at"]) == checkin
    assert due - checkin == timedelta(hours=72)  # the program's check-in window
    assert checkin <= datetime.fromisoformat(detail["planned"]["visit_from"]) < due
    assert (detail["status"], detail["missed"]) == ("open", False)
    page.reload()
    expect(page.locator("dd", has_text=detail["planned"]["team_id"])).to_be_visible()
    _no_overflow(page)
    screenshots(page, "case-engaged")

    page.goto(f"{stack.api}/programs/{PROGRAM}/queue?tier=engaged")
    row = page.locator(f"tr[data-case='{case_id}']")
    expect(row.locator(".badge")).to_have_text("engaged")
    expect(row.locator(".reason")).to_have_text(
        f"staying in touch: next check-in on {checkin.month}/{checkin.day}"
    )
    _no_overflow(page)
    screenshots(page, "queue-engaged")

    officer = page.context.browser.new_context()  # type: ignore[union-attr]
    try:
        seen = officer.new_page()
        _member(seen, stack, "dale_officer", "law_enforcement")
        seen.goto(f"{stack.api}/cases/{case_id}")
        expect(seen.locator("#case-tier")).to_have_text("Follow-up")
        assert seen.locator("#engagement").count() == 0
        expect(seen.locator("body")).not_to_contain_text("Staying in touch")
        expect(seen.locator("#case-window")).to_contain_text(said)  # when to visit stays
    finally:
        officer.close()

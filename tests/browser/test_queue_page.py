"""The work-queue pages in headless Chromium against the running stack (`qrt up`).

A coordinator made with `qrt user create` signs in through the login form. Events are
published through the HTTP ingest gateway with an agency key while the queue page is
open; the page must show the new case by itself (server-sent events, then a refetch
of the rows), without navigating or reloading."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshots
from tests.browser.stack import PROGRAM, RunningStack, overdose

pytestmark = [pytest.mark.browser, pytest.mark.broker]

LIVE_S = 30  # publish -> intake -> case worker -> store -> SSE -> rows, on a busy 2-core box
QUEUE = f"/programs/{PROGRAM}/queue"


def sign_in(page: Page, stack: RunningStack, username: str) -> None:
    """A new coordinator signs in through the form, starting from the queue's address."""
    password = secrets.token_urlsafe(16)
    stack.create_coordinator(username, password)
    page.goto(stack.api + QUEUE)
    expect(page).to_have_url(f"{stack.api}/login?next={QUEUE}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page).to_have_url(stack.api + QUEUE)
    expect(page.locator("header .who")).to_have_text(username)
    expect_live(page)


def expect_live(page: Page) -> None:
    """The page's event stream is connected: whatever changes from now on is announced."""
    expect(page.locator("h1")).to_contain_text("Work queue")
    expect(page.locator("#live-status")).to_have_text("live", timeout=LIVE_S * 1000)


def cases_shown(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        "#queue-rows tr[data-case]", "rows => rows.map(r => r.dataset.case)"
    )
    return ids


def without_reload(page: Page) -> Callable[[], None]:
    """Mark the loaded document and watch navigations; the returned check fails if the
    page was reloaded or left, or if its rows were never refetched."""
    marker = secrets.token_hex(8)
    page.evaluate("marker => { window.qrtTestMarker = marker; }", marker)
    navigations: list[str] = []
    page.on(
        "framenavigated",
        lambda frame: navigations.append(frame.url) if frame == page.main_frame else None,
    )
    refetched: list[str] = []
    page.on(
        "requestfinished",
        lambda request: refetched.append(request.url) if "/queue/rows" in request.url else None,
    )

    def check() -> None:
        assert navigations == [], f"the page navigated: {navigations}"
        assert page.evaluate("() => window.qrtTestMarker") == marker, "the page was reloaded"
        assert refetched, "the rows were never refetched: the new row came from elsewhere"
        assert page.get_attribute("#queue", "data-refreshed"), "qrt.js never replaced the rows"

    return check


def next_new_row(page: Page, known: list[str]) -> str:
    """Wait until the table shows a case that is not in `known`; its id."""
    handle = page.wait_for_function(
        """known => {
            const ids = [...document.querySelectorAll("#queue-rows tr[data-case]")]
                .map(r => r.dataset.case).filter(id => !known.includes(id));
            return ids.length === 1 ? ids[0] : null;
        }""",
        arg=known,
        timeout=LIVE_S * 1000,
    )
    case_id: str = handle.json_value()
    return case_id


def queue_item(page: Page, stack: RunningStack, case_id: str) -> dict[str, Any]:
    """The case as the queue API tells it, read with the page's own session cookie."""
    answer = page.request.get(f"{stack.api}/api/v1/programs/{PROGRAM}/queue")
    assert answer.ok, answer.text()
    (item,) = [i for i in answer.json()["items"] if i["case_id"] == case_id]
    found: dict[str, Any] = item
    return found


def test_a_new_event_appears_on_an_open_queue_page_without_reload(
    page: Page, stack: RunningStack
) -> None:
    sign_in(page, stack, "avery_coord")
    before = cases_shown(page)
    total_before = int(page.inner_text("#total"))
    assert total_before == len(before)
    unchanged = without_reload(page)

    person = {"first_name": "Avery", "last_name": "Browserfield", "dob": "1985-03-04",
              "phone": "+13045550101"}  # fmt: skip
    stack.publish(overdose("browser-a-1", person, hours_ago=2))

    case_id = next_new_row(page, before)
    row = page.locator(f'#queue-rows tr[data-case="{case_id}"]')
    expect(row.locator(".badge")).to_have_text("new")
    expect(row.locator(f'a[href="/cases/{case_id}"]')).to_have_text("Avery B.")  # short name
    expect(row.locator(".case-id")).to_have_text(case_id[:8])
    expect(row.locator(".reason")).to_have_text("never contacted")
    expect(row.locator(".countdown")).not_to_be_empty()
    expect(page.locator("#total")).to_have_text(str(total_before + 1))
    assert sorted(cases_shown(page)) == sorted([*before, case_id])
    unchanged()

    item = queue_item(page, stack, case_id)
    assert [e["event_id"] for e in item["events"]] == ["browser-a-1"]
    assert item["tier"] == "new" and item["status"] == "open"


def test_not_located_then_the_same_persons_next_case_comes_in_unlocated(
    page: Page, stack: RunningStack
) -> None:
    person = {"first_name": "Blake", "last_name": "Chromewell", "dob": "1979-11-12",
              "phone": "+13045550177"}  # fmt: skip
    sign_in(page, stack, "blake_coord")
    stack.publish(overdose("browser-b-1", person, hours_ago=5))
    first = next_new_row(page, cases_shown(page))
    expect(page.locator(f'#queue-rows tr[data-case="{first}"] .badge')).to_have_text("new")

    page.click(f'#queue-rows a[href="/cases/{first}"]')
    expect(page).to_have_url(f"{stack.api}/cases/{first}")
    expect(page.locator("h1")).to_contain_text(first[:8])
    expect(page.locator("#case-owner")).to_have_text("nobody")

    page.click("#claim")
    expect(page).to_have_url(f"{stack.api}/cases/{first}?message=Claimed.")
    expect(page.locator("#case-owner")).to_have_text("blake_coord")
    expect(page.locator("#release")).to_be_visible()

    form = page.locator("#attempt-form")
    form.locator("select[name=result]").select_option("not_located")
    form.get_by_label("close the case with this result").check()
    form.locator("#record").click()
    expect(page.locator(".message")).to_have_text("Attempt 1 saved. The case is closed.")
    expect(page.locator("[role=alert]")).to_have_count(0)
    expect(page.locator("#case-status")).to_have_text("Closed · Not located")
    expect(page.locator("#attempts li")).to_have_count(1)
    expect(page.locator("#attempts li")).to_contain_text("Not located")
    expect(page.locator("#attempt-form")).to_have_count(0)  # a closed case takes no more

    page.click("text=← Queue")
    expect(page).to_have_url(stack.api + QUEUE)
    expect_live(page)
    before = cases_shown(page)
    assert first not in before, "a closed case stays off the queue"
    unchanged = without_reload(page)

    stack.publish(overdose("browser-b-2", person, hours_ago=0.2))

    second = next_new_row(page, before)
    assert second != first
    row = page.locator(f'#queue-rows tr[data-case="{second}"]')
    expect(row.locator(".badge")).to_have_text("unlocated")
    expect(row.locator(".badge")).to_have_class("badge tier-unlocated")
    expect(row).to_have_class("tier-unlocated")
    expect(row.locator(".reason")).to_contain_text("not located on ")  # the first case's
    unchanged()

    item = queue_item(page, stack, second)
    assert [e["event_id"] for e in item["events"]] == ["browser-b-2"]
    assert item["tier"] == "unlocated"
    closed = page.request.get(f"{stack.api}/api/v1/cases/{first}")
    assert closed.ok, closed.text()
    assert closed.json()["status"] == "closed" and closed.json()["outcome"] == "not_located"
    assert item["person_id"] == closed.json()["person"]["person_id"], "the same person"


def test_a_possible_death_is_flagged_and_a_coordinator_confirms_it(
    page: Page, stack: RunningStack
) -> None:
    """A police report of a death at the same scene, naming nobody: the case is flagged on
    the queue and the case page; the coordinator confirms, and the case closes."""
    scene = {"address": "40 Quiet Lane", "city": "Huntington", "zip": "25701",
             "county_fips": "54011"}  # fmt: skip
    person = {"first_name": "Casey", "last_name": "Flagwood", "dob": "1991-05-06"}
    sign_in(page, stack, "casey_coord")
    report = {**overdose("browser-c-1", person, hours_ago=1), "location": scene}
    stack.publish(report)
    case_id = next_new_row(page, cases_shown(page))
    police_key = stack.qrt("agency", "create", "EX-PD-01").strip().splitlines()[-1]
    fatal = {**report, "event_id": "browser-c-2", "source": "police", "agency_id": "EX-PD-01",
             "incident_number": "P-browser-c-2", "patient": None, "fatal": True}  # fmt: skip
    stack.publish(fatal, key=police_key)
    row = page.locator(f'#queue-rows tr[data-case="{case_id}"]')
    expect(row.locator(".flag.possible-death")).to_have_text(
        "possible death", timeout=LIVE_S * 1000
    )
    screenshots(page, "queue-possible-death")

    page.click(f'#queue-rows a[href="/cases/{case_id}"]')
    expect(page.locator("#possible-death")).to_contain_text("A fatal overdose report may be")
    screenshots(page, "case-possible-death")
    page.click("#confirm-death")
    expect(page.locator(".message")).to_have_text("Death confirmed.")
    expect(page.locator("#case-status")).to_have_text("Closed · Deceased")
    expect(page.locator("#possible-death")).to_have_count(0)
    screenshots(page, "case-deceased")


def test_the_api_docs_load_nothing_from_outside(page: Page, stack: RunningStack) -> None:
    """/docs is Swagger UI from the API's own files, under its CSP: no CDN, no violation."""
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(stack.api + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("QRT follow-up orchestrator")
    expect(page.locator(".opblock").first).to_be_visible()
    outside = [url for url in requested if not url.startswith(stack.api)]
    assert outside == [], f"requests outside the API: {outside}"
    assert problems == [], f"console errors (a CSP violation?): {problems}"
    screenshots(page, "api-docs")

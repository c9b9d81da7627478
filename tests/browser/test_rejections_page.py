"""Feed problems on the running stack (`qrt up`), in headless Chromium.

Malformed events published to the intake topic (`qrt publish` to overdose.ems.v1) are
dead-lettered by the intake worker and kept by the case worker; within seconds they
show in `qrt rejections` and on the program's rejections page, with the counts of the
last 24 h at the top, read by a coordinator signed in through the form. The page has no
horizontal overflow at 390 px. Outreach gets no link and a 403; a record traced to no
program shows to an admin of every program only."""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, screenshots
from tests.browser.stack import PROGRAM, RunningStack
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.broker]

SEEN_S = 30  # publish -> intake worker -> dead letter -> case worker -> store, on 2 busy cores
PAGE = f"/programs/{PROGRAM}/rejections"


def sign_in(page: Page, stack: RunningStack, username: str, role: str, program: str) -> None:
    password = secrets.token_urlsafe(16)
    said = stack.qrt(
        "user", "create", username, "--role", role, "--program", program, "--password-stdin",
        stdin=password + "\n",
    )  # fmt: skip
    assert f"user {username} created" in said
    page.goto(stack.api + PAGE)
    expect(page).to_have_url(f"{stack.api}/login?next={PAGE}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def publish_malformed(stack: RunningStack, agency: str) -> None:
    """An event with wrong fields from an agency of the example program's county, and a
    line that is not JSON at all, straight to the EMS intake topic."""
    wrong = {
        "event_id": f"wrong-{agency}", "source": "ems", "agency_id": agency,
        "occurred_at": "last night", "naloxone": {"doses": "two"},
        "location": {"county_fips": "54011"},
    }  # fmt: skip
    lines = json.dumps(wrong) + "\n" + f'{{"event_id": "cut-{agency}", "agency_id": \n'
    said = stack.qrt("publish", "-", "--source", "ems", "--unscreened", stdin=lines)
    assert "published 2 event(s)" in said


def kept(stack: RunningStack, *args: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(stack.qrt("rejections", "--format", "json", *args))[
        "items"
    ]
    return items


@pytest.fixture(scope="module")
def agency(stack: RunningStack) -> str:
    """An agency of this module's own, unknown by id: routed by its county."""
    return f"BRW-{secrets.token_hex(3).upper()}"


def test_a_malformed_event_shows_in_qrt_rejections_and_on_the_page_within_seconds(
    page: Page, stack: RunningStack, agency: str
) -> None:
    sign_in(page, stack, "casey_coord", "coordinator", PROGRAM)
    expect(page).to_have_url(stack.api + PAGE)
    expect(page.locator("header .who")).to_have_text("casey_coord")
    expect(page.locator("h1")).to_contain_text("Feed problems")
    expect(page.locator("header nav a.nav-rejections")).to_have_attribute("href", PAGE)
    expect(page.locator(f'#rejection-counts tr[data-agency="{agency}"]')).to_have_count(0)

    published = time.monotonic()
    publish_malformed(stack, agency)

    def both() -> list[dict[str, Any]]:
        found = kept(stack)
        cut = [i for i in found if i["reason"] == "malformed_json" and i["program_id"] is None]
        return [i for i in found if i["agency_id"] == agency] if cut else []

    wait_for(both, SEEN_S, "both malformed events in `qrt rejections`", every_s=0.5)
    (item,) = [i for i in kept(stack, "--program", PROGRAM) if i["agency_id"] == agency]
    assert item["program_id"] == PROGRAM, "routed by its county"
    assert item["reason"] == "invalid_event" and item["source"] == "ems"
    assert {e["field"] for e in item["errors"]} >= {"occurred_at", "naloxone.doses"}
    table = stack.qrt("rejections")
    assert agency in table and "Fields missing or invalid" in table
    assert "Not valid JSON" in table, "the operator sees the one traced to no program"

    def on_page() -> bool:
        page.reload()
        return page.locator(f'li.rejection:has(.agency:text-is("{agency}"))').count() == 1

    wait_for(on_page, SEEN_S, "the malformed event on the rejections page", every_s=0.5)
    assert time.monotonic() - published < SEEN_S
    card = page.locator(f'li.rejection:has(.agency:text-is("{agency}"))')
    expect(card.locator(".reason")).to_have_text("Fields missing or invalid")
    expect(card.locator(".source")).to_have_text("EMS")
    expect(card.locator(".field-errors li")).to_have_count(len(item["errors"]))
    expect(card.locator(".field-errors")).to_contain_text("naloxone.doses")
    expect(card.locator("time")).to_have_text(
        # the program's zone (America/New_York): EST or EDT, never UTC
        re.compile(r"^\w{3} \d\d \w{3} \d\d:\d\d E[SD]T$")
    )
    counts = page.locator(f'#rejection-counts tr[data-agency="{agency}"]')
    expect(counts.locator("td").nth(1)).to_have_text("Fields missing or invalid")
    expect(counts.locator("td.n")).to_have_text("1")
    expect(page.locator("li.rejection .reason", has_text="Not valid JSON")).to_have_count(0)

    taken = screenshots(page, "rejections-coordinator")
    assert all(p.stat().st_size > 0 for p in taken)
    page.set_viewport_size(PHONE)
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"horizontal overflow at 390 px: {widths}"
    assert page.evaluate(
        """() => [...document.querySelectorAll("li.rejection, #rejection-counts, header.top")]
            .every(e => e.getBoundingClientRect().right <= document.documentElement.clientWidth)"""
    ), "a card, the counts or the header runs past the screen's edge"


def test_an_admin_sees_what_no_program_owns_and_outreach_sees_nothing(
    page: Page, stack: RunningStack, agency: str
) -> None:
    wait_for(
        lambda: any(i["reason"] == "malformed_json" for i in kept(stack)),
        SEEN_S, "the line that is not JSON kept", every_s=0.5,
    )  # fmt: skip
    sign_in(page, stack, "robin_admin", "admin", "*")
    expect(page.locator("header .who")).to_have_text("robin_admin")
    cut = page.locator("li.rejection", has=page.locator(".reason", has_text="Not valid JSON"))
    expect(cut.first).to_be_visible()
    expect(cut.first.locator(".flag")).to_have_text("No program known")
    expect(cut.first.locator(".agency")).to_have_text("Agency not known")
    screenshots(page, "rejections-admin")

    page.context.clear_cookies()
    sign_in(page, stack, "pat_outreach", "outreach", PROGRAM)
    expect(page.locator("h1")).to_have_text("Not allowed")
    assert page.locator("li.rejection").count() == 0
    page.goto(f"{stack.api}/programs/{PROGRAM}/queue")
    expect(page.locator("header .who")).to_have_text("pat_outreach")
    expect(page.locator("header nav a.nav-rejections")).to_have_count(0)
    answer = page.request.get(f"{stack.api}/api/v1/rejections")
    assert answer.status == 403, answer.text()

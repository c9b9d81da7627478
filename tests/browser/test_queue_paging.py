"""The 8 am queue in headless Chromium against the running stack, with 500 open cases:
paged through whole (every case seen once), each row with the reason for its tier, names
only for a role that sees identities, no horizontal scrolling at 390 px, and the live
refresh keeping the page's filters and page number.

500 reports go through the HTTP ingest gateway in one batch; six of the people had a
case before, closed through the API with a result (not located, bad address, declined
and wants help later), so their new cases come in as `unlocated` or `deferred`."""

from __future__ import annotations

import json
import re
import secrets
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests import wall_clock
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, screenshots
from tests.browser.stack import PROGRAM, RunningStack, overdose
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.broker]

QUEUE = f"/programs/{PROGRAM}/queue"
LIVE_S = 30
CASES = 500
FIRSTS = ["Alex", "Bea", "Cruz", "Dale", "Eden", "Flynn", "Gale", "Hollis", "Ira", "Jules",
          "Kit", "Lane", "Milo", "Nico", "Oak", "Perry", "Quinn", "Reese", "Sage", "Tate",
          "Uma", "Vale", "Wren", "Xan", "Yael"]  # fmt: skip
LASTS = ["Abbot", "Brook", "Crane", "Dunmore", "Ellery", "Frost", "Garrow", "Hale", "Ingram",
         "Jarvis", "Kestrel", "Lowry", "Marsh", "Norcott", "Orwin", "Pryce", "Quill", "Rook",
         "Strand", "Thorne"]  # fmt: skip
EARLIER = {  # the six with an earlier case: its result, and the tier of the new one
    0: ("not_located", "unlocated"), 1: ("not_located", "unlocated"),
    2: ("bad_address", "unlocated"), 3: ("not_located", "unlocated"),
    4: ("contacted_declined_future_interest", "deferred"),
    5: ("contacted_declined_future_interest", "deferred"),
}  # fmt: skip
SAID = {"not_located": "not located on {}", "bad_address": "bad address on {}",
        "contacted_declined_future_interest": "declined on {}, wants help later"}  # fmt: skip


def person(n: int) -> dict[str, str]:
    dob = datetime(1960, 1, 1) + timedelta(days=37 * n)
    return {"first_name": FIRSTS[n % 25], "last_name": LASTS[n // 25],
            "dob": dob.date().isoformat()}  # fmt: skip


def report(n: int, event_id: str, hours_ago: float) -> dict[str, Any]:
    event = overdose(event_id, person(n), hours_ago)
    if n % 2:  # every other scene names its city and ZIP; the others only the county
        event["location"] = {"address": f"{n} Main St", "city": "Huntington", "zip": "25701",
                             "state": "WV", "county_fips": "54011"}  # fmt: skip
    return event


def day_in_new_york(at: datetime) -> str:
    local, now = at.astimezone(ZoneInfo("America/New_York")), wall_clock.now()
    year = "" if local.year == now.astimezone(local.tzinfo).year else f"/{local.year}"
    return f"{local.month}/{local.day}{year}"


@dataclass
class Loaded:
    token: str  # a coordinator's bearer token
    reasons: dict[str, str]  # short name -> the tier reason their new case must show
    tiers: dict[str, str]  # short name -> the tier of their new case


def call(stack: RunningStack, method: str, path: str, token: str, body: Any = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 (loopback URL)
        stack.api + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
        return json.load(answer)


def publish_batch(stack: RunningStack, batch: list[dict[str, Any]]) -> None:
    answer = call(stack, "POST", "/api/v1/events", stack.agency_key, batch)
    assert [e["duplicate"] for e in answer["events"]] == [False] * len(batch)


def open_queue(stack: RunningStack, token: str) -> dict[str, Any]:
    found: dict[str, Any] = call(stack, "GET", f"/api/v1/programs/{PROGRAM}/queue?limit=1000",
                                 token)  # fmt: skip
    return found


@pytest.fixture(scope="module")
def loaded(stack: RunningStack) -> Loaded:
    password = secrets.token_urlsafe(16)
    stack.create_coordinator("setup_coord", password)
    token = stack.qrt("user", "token", "setup_coord").strip().splitlines()[-1]
    publish_batch(stack, [report(n, f"first-{n}", 30) for n in EARLIER])
    firsts = wait_for(lambda: (q := open_queue(stack, token))["total"] == len(EARLIER) and q,
                      120, "the six earlier cases")  # fmt: skip
    tried_at = wall_clock.now() - timedelta(hours=20)
    reasons, tiers = {}, {}
    for item in firsts["items"]:
        n = int(item["events"][0]["event_id"].removeprefix("first-"))
        result, tier = EARLIER[n]
        call(stack, "POST", f"/api/v1/cases/{item['case_id']}/attempts", token,
             {"result": result, "close": True, "at": tried_at.isoformat()})  # fmt: skip
        name = f"{FIRSTS[n % 25]} {LASTS[n // 25][0]}."
        reasons[name], tiers[name] = SAID[result].format(day_in_new_york(tried_at)), tier
    assert open_queue(stack, token)["total"] == 0
    batch = [report(n, f"now-{n}", 0.5 + (n % 60)) for n in range(CASES)]  # 6 of them again
    publish_batch(stack, batch)
    wait_for(lambda: open_queue(stack, token)["total"] == CASES, 180, f"{CASES} open cases")
    return Loaded(token=token, reasons=reasons, tiers=tiers)


def sign_in_as(page: Page, stack: RunningStack, username: str, role: str) -> None:
    password = secrets.token_urlsafe(16)
    said = stack.qrt("user", "create", username, "--role", role, "--program", PROGRAM,
                     "--password-stdin", stdin=password + "\n")  # fmt: skip
    assert f"user {username} created" in said
    page.goto(stack.api + QUEUE)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page).to_have_url(stack.api + QUEUE)
    expect(page.locator("#live-status")).to_have_text("live", timeout=LIVE_S * 1000)


def no_horizontal_scroll(page: Page) -> tuple[int, int]:
    widths: tuple[int, int] = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    return widths


def rows_shown(page: Page) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = page.eval_on_selector_all(
        "#queue-rows tr[data-case]",
        """rows => rows.map(r => ({
            id: r.dataset.case,
            tier: r.querySelector(".badge").textContent,
            reason: (r.querySelector(".reason") || {}).textContent || "",
            link: r.querySelector("a.case-link").textContent,
            href: r.querySelector("a.case-link").getAttribute("href"),
            area: (r.querySelector(".area") || {}).textContent || "",
        }))""",
    )
    return rows


def pages_through(page: Page, shoot: str | None = None) -> Iterator[list[dict[str, str]]]:
    """Every page of the queue from the first, by its Next link; each page's rows."""
    number = 1
    while True:
        expect(page.locator("#page-of")).to_contain_text(f"page {number} of ")
        if shoot and number in (1, 10):
            screenshots(page, f"{shoot}-page-{number}")
        yield rows_shown(page)
        if page.locator("#next").count() == 0:
            return
        page.click("#next")
        number += 1


def test_a_coordinator_pages_through_500_cases_with_names_and_reasons(
    page: Page, stack: RunningStack, loaded: Loaded
) -> None:
    sign_in_as(page, stack, "morning_coord", "coordinator")
    counts = page.eval_on_selector_all(
        "#tier-counts a",
        "links => links.map(a => [a.dataset.tier, a.querySelector('.n').textContent])",
    )
    assert counts == [
        ["new", "494"], ["unlocated", "4"], ["deferred", "2"], ["engaged", "0"],
        ["family_support", "0"],
    ]  # fmt: skip
    seen: list[str] = []
    ranges: list[str] = []
    for rows in pages_through(page, shoot="queue-coordinator"):
        ranges.append(page.inner_text("#range"))
        assert len(rows) == 50
        for row in rows:
            assert row["reason"], f"no tier reason on {row}"
            assert row["href"] == f"/cases/{row['id']}"
            assert not row["link"].startswith("Case "), f"no name on {row}"
            assert row["link"] in loaded.reasons or row["reason"] == "never contacted", row
            if row["link"] in loaded.reasons:
                assert (row["tier"], row["reason"]) == (
                    loaded.tiers[row["link"]],
                    loaded.reasons[row["link"]],
                )
        seen += [row["id"] for row in rows]
        assert page.inner_text("#total") == str(CASES)
    assert ranges == [f"{k * 50 + 1}\N{EN DASH}{k * 50 + 50}" for k in range(10)]
    api_ids = [i["case_id"] for i in open_queue(stack, loaded.token)["items"]]
    assert seen == api_ids, "every case once, in the queue's order"
    assert len(set(seen)) == CASES
    areas = {r["area"] for r in rows_shown(page)}
    assert "Huntington 25701" in areas

    for number in (10, 1):  # the last page (the deferred ones), then the first
        if number == 1:
            page.goto(stack.api + QUEUE)
        page.set_viewport_size(PHONE)
        width, client = no_horizontal_scroll(page)
        assert width <= client, f"page {number} scrolls sideways at 390 px: {width} > {client}"
        card = page.locator("#queue-rows tr[data-case]").first.bounding_box()
        assert card is not None and card["width"] <= PHONE["width"]
        page.locator("#queue-rows tr[data-case]").last.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / f"queue-coordinator-page-{number}-phone-end.png"))
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(SCREENSHOTS / f"queue-coordinator-page-{number}-phone-top.png"))
        page.set_viewport_size(DESKTOP)


def test_the_live_refresh_keeps_the_filters_and_the_page(
    page: Page, stack: RunningStack, loaded: Loaded
) -> None:
    sign_in_as(page, stack, "live_coord", "coordinator")
    page.select_option("select[name=tier]", "new")
    page.click("#queue-filters button[type=submit]")
    expect(page.locator("#total")).to_have_text("494")
    page.click("#next")
    expect(page.locator("#range")).to_have_text("51\N{EN DASH}100")
    expect(page.locator("#live-status")).to_have_text("live", timeout=LIVE_S * 1000)
    before = [r["id"] for r in rows_shown(page)]
    fetched: list[str] = []
    page.on("requestfinished", lambda r: fetched.append(r.url) if "/queue/rows" in r.url else None)

    late = {"first_name": "Zora", "last_name": "Latecomer", "dob": "1999-09-09"}
    publish_batch(stack, [{**report(7, "late-1", 0.1), "patient": late}])

    expect(page.locator("#total")).to_have_text("495", timeout=LIVE_S * 1000)
    expect(page.locator("#range")).to_have_text("51\N{EN DASH}100")
    expect(page.locator("#page-of")).to_have_text("page 2 of 10")
    assert fetched and all("tier=new" in u and "page=2" in u for u in fetched), fetched
    after = rows_shown(page)
    assert len(after) == 50 and {r["tier"] for r in after} == {"new"}, "still page 2 of new"
    assert len({r["id"] for r in after} | set(before)) <= 51  # the same page, one shift at most
    screenshots(page, "queue-filtered-page-2")
    page.set_viewport_size(PHONE)
    width, client = no_horizontal_scroll(page)
    assert width <= client, f"the filtered page scrolls sideways at 390 px: {width} > {client}"


def test_a_program_manager_sees_tiers_and_reasons_but_no_names(
    page: Page, stack: RunningStack, loaded: Loaded
) -> None:
    sign_in_as(page, stack, "morning_manager", "program_manager")
    expect(page.locator("#tier-counts")).to_be_visible()
    shown = 0
    for rows in pages_through(page, shoot="queue-manager"):
        for row in rows:
            assert row["link"] == f"Case {row['id'][:8]}", f"a name shown to a manager: {row}"
            assert row["area"] == "" and row["reason"], row
        shown += len(rows)
        names = re.findall(r"\b[A-Z][a-z]+ [A-Z]\.", page.inner_text("#queue-live"))
        assert names == [], f"names shown to a manager: {names}"
    assert shown >= CASES
    page.set_viewport_size(PHONE)
    width, client = no_horizontal_scroll(page)
    assert width <= client, f"a manager's page scrolls sideways at 390 px: {width} > {client}"

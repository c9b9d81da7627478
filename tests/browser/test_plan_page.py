"""The shift plan page in headless Chromium against the running stack (`qrt up`).

Reports are published through the ingest gateway with times from the session's clock
(tests/wall_clock.py): one whose window closes 30 minutes after the first shift that can
take it starts (so it is planned with less than an hour of window left), and a few whose
windows open at other hours, so that the plan spans several shifts. What the page shows
is checked against the stored plan (`GET /api/v1/programs/{id}/plan`)."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from services.planning.shifts import shifts_between
from services.programs import load_programs
from tests import wall_clock
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, screenshots
from tests.browser.stack import PROGRAM, RunningStack, overdose
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.time_of_day]

PLAN = f"/programs/{PROGRAM}/plan"
PLANNED_S = 60  # publish -> intake -> case worker -> planner, on a busy 2-core box
WINDOW = timedelta(hours=72)  # the example program's window: due 72 h after the overdose
FLAGGED = {"first_name": "Riley", "last_name": "Shortwindow", "dob": "1986-07-08",
           "phone": "+1 (304) 555-0166",
           "address": {"address": "12 Hill Street", "city": "Huntington", "state": "WV",
                       "zip": "25701"}}  # fmt: skip
SCENE = {"address": "200 Depot Road", "city": "Huntington", "state": "WV", "zip": "25701",
         "county_fips": "54011", "lat": 38.4201, "lon": -82.4447,
         "description": "by the bus shelter"}  # fmt: skip
OTHERS = {  # hours ago: windows opening in 11.5, 9 and 4 h, and two open already
    "plan-b": 0.5, "plan-c": 3, "plan-d": 8, "plan-e": 20, "plan-f": 40,
}  # fmt: skip


def first_usable_shift_start(now: datetime) -> datetime:
    """The start of the first shift (of any team) that has not ended at `now`: where the
    planner puts a case whose window is open and closes soon (earliest deadline first)."""
    program = load_programs(None).get(PROGRAM)
    assert program is not None
    found = shifts_between(program.teams, program.zone, now, now + timedelta(days=8))
    assert found, "the example program has shifts every week"
    return found[0].start


@pytest.fixture(scope="module")
def seeded(stack: RunningStack) -> dict[str, str]:
    """The reports, published once for the module; event id -> label."""
    now = wall_clock.now()
    due = max(first_usable_shift_start(now), now) + timedelta(minutes=30)
    flagged = overdose("plan-a", FLAGGED, hours_ago=0)
    flagged["occurred_at"] = (due - WINDOW).isoformat()
    flagged["location"] = SCENE
    stack.publish(flagged)
    for n, (event_id, hours) in enumerate(OTHERS.items()):
        person = {"first_name": f"Sam{n}", "last_name": "Planwell", "dob": f"197{n}-01-02"}
        stack.publish(overdose(event_id, person, hours_ago=hours))
    return {"plan-a": "flagged", **{e: e for e in OTHERS}}


def sign_in(page: Page, stack: RunningStack, username: str, role: str) -> None:
    password = secrets.token_urlsafe(16)
    said = stack.qrt(
        "user", "create", username, "--role", role, "--program", PROGRAM, "--password-stdin",
        stdin=password + "\n",
    )  # fmt: skip
    assert f"user {username} created" in said
    page.goto(stack.api + PLAN)
    expect(page).to_have_url(f"{stack.api}/login?next={PLAN}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page).to_have_url(stack.api + PLAN)


def stored_plan(page: Page, stack: RunningStack, wanted: dict[str, str]) -> dict[str, Any]:
    """Once every published report's case is planned: event id -> (case id, team, shift
    start), as the plan API (read with the page's session) tells it."""

    def planned() -> dict[str, Any] | None:
        answer = page.request.get(f"{stack.api}/api/v1/programs/{PROGRAM}/plan?days=9")
        assert answer.ok, answer.text()
        found = {
            e["event_id"]: (item["case_id"], plan["team_id"], plan["shift_start"])
            for plan in answer.json()
            for item in plan["items"]
            for e in item["events"]
            if e["event_id"] in wanted
        }
        return found if len(found) == len(wanted) else None

    try:
        found: dict[str, Any] = wait_for(planned, PLANNED_S, "every report planned", every_s=0.5)
    except AssertionError as exc:  # say which were missing and what the stack said
        try:
            status = stack.qrt("status")
        except AssertionError as failed:  # an unhealthy stack: its status is the failure
            status = str(failed)
        raise AssertionError(
            f"{exc}; planned: {sorted(_planned_ids(page, stack))} of {sorted(wanted)}\n"
            f"qrt status:\n{status}\nqrt up said:\n{stack.log_tail()}"
        ) from exc
    return found


def _planned_ids(page: Page, stack: RunningStack) -> set[str]:
    answer = page.request.get(f"{stack.api}/api/v1/programs/{PROGRAM}/plan?days=9")
    return {e["event_id"] for p in answer.json() for i in p["items"] for e in i["events"]}


def sections(page: Page) -> list[dict[str, Any]]:
    """Each shift on the page: team, start, and the cases of its rows in order."""
    shown: list[dict[str, Any]] = page.eval_on_selector_all(
        "section.shift",
        """all => all.map(s => ({team: s.dataset.team, start: s.dataset.start,
            cases: [...s.querySelectorAll("tr.visit")].map(r => r.dataset.case)}))""",
    )
    return shown


def in_time_order(shown: list[dict[str, Any]]) -> bool:
    starts = [datetime.fromisoformat(s["start"]) for s in shown]
    return starts == sorted(starts)


def no_overflow_on_a_phone(page: Page) -> None:
    page.set_viewport_size(PHONE)
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    page.set_viewport_size(DESKTOP)
    assert widths[0] <= widths[1], f"horizontal overflow at 390 px: {widths}"


def pdf_pages(page: Page, name: str) -> int:
    SCREENSHOTS.mkdir(exist_ok=True)
    pdf = page.pdf(path=str(SCREENSHOTS / f"{name}.pdf"), format="Letter")
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))


def test_a_coordinator_sees_shifts_in_time_order_filters_them_and_prints_one_a_page(
    page: Page, stack: RunningStack, seeded: dict[str, str]
) -> None:
    sign_in(page, stack, "plan_coord", "coordinator")
    plan = stored_plan(page, stack, seeded)
    flagged_case, flagged_team, _ = plan["plan-a"]

    page.reload()
    shown = sections(page)
    assert shown and in_time_order(shown), shown
    row = page.locator(f'tr.visit[data-case="{flagged_case}"]')
    expect(row.locator(".flag.short-window")).to_contain_text("Less than an hour of window left")
    expect(row).to_contain_text("Riley Shortwindow")
    expect(row.locator('a.tel[href="tel:+13045550166"]')).to_have_text("+1 (304) 555-0166")
    scene = row.locator("a.geo", has_text="200 Depot Road")
    expect(scene).to_have_attribute("href", re.compile(r"^geo:38\.4201,-82\.4447"))
    home = row.locator("a.geo", has_text="12 Hill Street")
    expect(home).to_have_attribute(
        "href", "geo:0,0?q=12%20Hill%20Street%2C%20Huntington%2C%20WV%2025701"
    )
    expect(row).to_contain_text("by the bus shelter")
    no_overflow_on_a_phone(page)
    screenshots(page, "plan-default")

    # one team, one day, through the form: the day of a shift of another report
    other_case, team, start = plan["plan-b"]
    day = datetime.fromisoformat(start).astimezone(ZoneInfo("America/New_York")).date()
    page.select_option("#plan-team", team)
    page.fill("#plan-day", day.isoformat())
    page.click("#plan-show")
    expect(page).to_have_url(f"{stack.api}{PLAN}?team={team}&day={day.isoformat()}")
    filtered = sections(page)
    assert filtered and in_time_order(filtered)
    assert {s["team"] for s in filtered} == {team}
    zone = ZoneInfo("America/New_York")
    assert {datetime.fromisoformat(s["start"]).astimezone(zone).date() for s in filtered} == {day}
    expected = sorted(
        case for case, t, s in plan.values()
        if t == team and datetime.fromisoformat(s).astimezone(zone).date() == day
    )  # fmt: skip
    assert sorted(c for s in filtered for c in s["cases"]) == expected
    assert other_case in expected
    expect(page.locator("#plan-team")).to_have_value(team)
    expect(page.locator("#plan-range")).to_contain_text(day.strftime("%A"))
    no_overflow_on_a_phone(page)
    screenshots(page, "plan-one-team-one-day")

    # a Saturday, every team: the weekend team's 10:00 shift before the evening team's
    # 14:00 one (by team name it would be the other way round)
    today = wall_clock.now().astimezone(zone).date()
    saturday = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
    page.select_option("#plan-team", "")
    page.fill("#plan-day", saturday.isoformat())
    page.click("#plan-show")
    expect(page).to_have_url(f"{stack.api}{PLAN}?team=&day={saturday.isoformat()}")
    local_starts = [
        (s["team"], datetime.fromisoformat(s["start"]).astimezone(zone).strftime("%H:%M"))
        for s in sections(page)
    ]
    assert local_starts == [("weekend", "10:00"), ("evening", "14:00")]

    # printed: one page a shift with visits, no navigation and no filters
    page.goto(stack.api + PLAN)
    printed = page.locator("section.shift.printed").count()
    assert printed >= 1
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()
    expect(page.locator("#plan-filters")).to_be_hidden()
    expect(page.locator(".flag.short-window").first).to_be_visible()
    screenshots(page, "plan-print")
    assert pdf_pages(page, "plan-print") == printed
    page.emulate_media(media="screen")
    assert flagged_team in {s["team"] for s in sections(page)}


def test_a_program_manager_sees_the_plan_without_names_phones_or_places(
    page: Page, stack: RunningStack, seeded: dict[str, str]
) -> None:
    sign_in(page, stack, "plan_manager", "program_manager")
    plan = stored_plan(page, stack, seeded)
    flagged_case = plan["plan-a"][0]
    page.reload()
    row = page.locator(f'tr.visit[data-case="{flagged_case}"]')
    expect(row.locator(".flag.short-window")).to_contain_text("Less than an hour of window left")
    expect(page.locator("tr.visit").first).to_be_visible()
    assert page.locator('a[href^="tel:"]').count() == 0
    assert page.locator('a[href^="geo:"]').count() == 0
    body = page.inner_text("main")
    for secret in ("Riley", "Shortwindow", "555-0166", "Depot Road", "Hill Street", "Planwell"):
        assert secret not in body, secret
    assert page.locator("th", has_text="Phone").count() == 0
    no_overflow_on_a_phone(page)
    screenshots(page, "plan-program-manager")

    # a team that is not one and a day that is not a date: said in words, the rest shown
    answer = page.goto(f"{stack.api}{PLAN}?team=nosuchteam&day=2026-13-45")
    assert answer is not None and answer.status == 422
    expect(page.locator("[role=alert]")).to_contain_text("This program has no team 'nosuchteam'")
    expect(page.locator("[role=alert]")).to_contain_text("A day is a date such as")
    expect(page.locator("#plan-range")).to_contain_text("Today and the next shift")
    expect(page.locator(f'tr.visit[data-case="{flagged_case}"]')).to_be_visible()

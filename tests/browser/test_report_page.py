"""The report page in headless Chromium against the running stack (`qrt up`).

Fifteen overdose reports go through the ingest gateway at known hours of the last five
days (twelve people once by EMS, one of them again, one by police, one fatal); a
coordinator records visits through the API at known hours after the overdose: four
contacts (by two teams), two not located. The page must show every section's tables
with the numbers of the JSON report, the four charts as inline SVG, fit a phone and
print on A4 and Letter without cut-off; with `share=true` no count from 1 to 10, and
the 14 non-fatal overdoses hidden (>10) with the fatal one they would give; and no
clinical section nor referral kind for law enforcement. Screenshots and PDFs go to
tests/browser/screenshots/ (the PDF's pages as PNG when pdftoppm is installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests import wall_clock
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, screenshots
from tests.browser.stack import AGENCY, PROGRAM, RunningStack, overdose
from tests.browser.test_case_page import _member
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.broker]

REPORT = f"/programs/{PROGRAM}/report"
POLICE = "EX-PD-01"  # a police agency of the example program
FIRSTS = ["Arden", "Blaise", "Corin", "Dasha", "Emry", "Fenna", "Garnet", "Hollis", "Ilse",
          "Jory", "Kerensa", "Linus", "Marlo", "Nerys"]  # fmt: skip
EMS_HOURS_AGO = [100 - 7 * n for n in range(12)]  # persons 0..11, by EMS
POLICE_HOURS_AGO, FATAL_HOURS_AGO, REPEAT_HOURS_AGO = 50, 40, 10  # persons 12, 13; 0 again
VISITS = {  # person: (result, hours after their overdose, team)
    0: ("contacted_accepted_treatment", 5, "day-east"),
    1: ("contacted_declined_future_interest", 30, "day-east"),
    2: ("contacted_declined", 60, "evening"),
    3: ("contacted_declined", 75, "evening"),
    4: ("not_located", 10, "evening"),
    5: ("not_located", 12, "day-east"),
}  # fmt: skip
SMALL = {str(n) for n in range(1, 11)}
CASES_S = 120  # publish -> intake -> case worker, on a busy 2-core box


def person(n: int) -> dict[str, str]:
    return {"first_name": FIRSTS[n], "last_name": f"Reporter{chr(65 + n)}",
            "dob": f"19{70 + n}-0{1 + n % 9}-1{n % 10}"}  # fmt: skip


@dataclass(frozen=True)
class Seeded:
    first: date
    last: date

    def query(self, **more: str) -> str:
        return "&".join(
            f"{k}={v}"
            for k, v in {"from": self.first, "to": self.last, "by": "week", **more}.items()
        )


def call(stack: RunningStack, method: str, path: str, token: str, body: Any = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 (loopback URL)
        stack.api + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
        return json.load(answer)


def _cases_by_event(stack: RunningStack, token: str, wanted: int) -> dict[str, str]:
    def found() -> dict[str, str] | None:
        queue = call(stack, "GET", f"/api/v1/programs/{PROGRAM}/queue?status=all&limit=500", token)
        cases = {e["event_id"]: i["case_id"] for i in queue["items"] for e in i["events"]}
        return cases if len(set(cases.values())) >= wanted else None

    cases: dict[str, str] = wait_for(found, CASES_S, f"{wanted} cases", every_s=0.5)
    return cases


@pytest.fixture(scope="module")
def seeded(stack: RunningStack) -> Seeded:
    now = wall_clock.now()
    stack.create_coordinator("report_setup", "report-setup-password-1")
    token = stack.qrt("user", "token", "report_setup").strip().splitlines()[-1]
    police_key = stack.qrt("agency", "create", POLICE, "--label", "report page").strip()
    times = {}
    for n, hours in enumerate(EMS_HOURS_AGO):
        stack.publish(overdose(f"report-{n}", person(n), hours_ago=hours))
        times[n] = now - timedelta(hours=hours)
    police = overdose("report-police", person(12), hours_ago=POLICE_HOURS_AGO)
    stack.publish({**police, "source": "police", "agency_id": POLICE},
                  key=police_key.splitlines()[-1])  # fmt: skip
    stack.publish({**overdose("report-fatal", person(13), FATAL_HOURS_AGO), "fatal": True})
    stack.publish(overdose("report-0-again", person(0), hours_ago=REPEAT_HOURS_AGO))
    cases = _cases_by_event(stack, token, 13)
    for n, (result, after, team) in VISITS.items():
        visit: dict[str, Any] = {"result": result, "team_id": team,
                                 "at": (times[n] + timedelta(hours=after)).isoformat()}  # fmt: skip
        if result == "contacted_accepted_treatment":
            visit["referral"] = "moud"
        call(stack, "POST", f"/api/v1/cases/{cases[f'report-{n}']}/attempts", token, visit)
    zone_today = now.astimezone(wall_clock.ZONE).date()
    return Seeded(first=zone_today - timedelta(days=6), last=zone_today)


def _figures(page: Page) -> dict[str, str]:
    shown: dict[str, str] = page.eval_on_selector_all(
        "[data-figure]",
        "all => Object.fromEntries(all.map(e => [e.dataset.figure, e.textContent.trim()]))",
    )
    return shown


def _table(page: Page, selector: str) -> list[list[str]]:
    rows: list[list[str]] = page.eval_on_selector_all(
        f"{selector} tbody tr",
        "rows => rows.map(r => [...r.children].map(c => c.textContent.trim()))",
    )
    return rows


def _no_overflow(page: Page, size: dict[str, int]) -> None:
    page.set_viewport_size(size)
    wide = page.evaluate(
        """() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,
                  Math.max(...[...document.querySelectorAll("svg.chart, table")]
                      .map(e => e.getBoundingClientRect().right))]"""
    )
    assert wide[0] <= wide[1] and wide[2] <= wide[1] + 0.5, f"overflow at {size}: {wide}"
    page.set_viewport_size(DESKTOP)


def _printed(page: Page, name: str) -> list[int]:
    """Print-media screenshots at the A4 and Letter text widths, their PDFs (and the
    PDFs' pages as PNG with pdftoppm); the page count of each PDF."""
    page.emulate_media(media="print")
    counts = []
    for paper, text_width in (("A4", 186), ("Letter", 192)):  # paper less 2 x 12 mm margins
        width = round(text_width / 25.4 * 96)
        _no_overflow(page, {"width": width, "height": 1100})
        page.set_viewport_size({"width": width, "height": 1100})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-print-{paper}.png"), full_page=True)
        pdf_path = SCREENSHOTS / f"{name}-{paper}.pdf"
        pdf = page.pdf(path=str(pdf_path), format=paper)
        counts.append(len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)))
        if shutil.which("pdftoppm"):
            subprocess.run(["pdftoppm", "-r", "70", "-png", str(pdf_path),
                            str(SCREENSHOTS / f"{name}-{paper}-page")], check=True)  # fmt: skip
    page.emulate_media(media="screen")
    page.set_viewport_size(DESKTOP)
    return counts


def test_a_coordinator_sees_every_section_the_charts_and_the_numbers_of_the_report(
    page: Page, stack: RunningStack, seeded: Seeded
) -> None:
    _member(page, stack, "report_coord", "coordinator")
    answer = page.goto(f"{stack.api}{REPORT}?{seeded.query()}")
    assert answer is not None and answer.status == 200
    api = page.request.get(f"{stack.api}/api/v1/programs/{PROGRAM}/report?{seeded.query()}")
    assert api.ok, api.text()
    report = api.json()
    figures = _figures(page)
    assert figures["overdoses.total"] == "15" == str(report["overdoses"]["total"])
    assert (figures["overdoses.non_fatal"], figures["overdoses.fatal"]) == ("14", "1")
    assert (figures["cases.attempted"], figures["cases.contacted"]) == ("6", "4")
    for key in ("distinct_persons", "persons_new", "persons_known"):
        assert figures[f"overdoses.{key}"] == str(report["overdoses"][key]), key
    assert figures["repeats.persons_two_or_more"] == str(report["repeats"]["persons_two_or_more"])
    assert figures["clinical.referred"] == str(report["clinical_figures"]["referred"])
    assert figures["first_contact.n"] == "4"
    sources = {row[0]: row[1] for row in _table(page, "#overdoses-by-source")}
    assert sources == {"EMS": "14", "Police": "1"}

    for key in ("series", "funnel", "contact-times", "teams"):
        chart = page.locator(f"#figure-{key} svg.chart[role=img]")
        expect(chart).to_have_count(1)
        assert chart.locator("title").text_content()
    funnel = {row[0]: row[1] for row in _table(page, "#numbers-funnel")}
    assert list(funnel.values()) == [str(s["count"]) for s in report["cases"]["funnel"]]
    assert funnel["Contacted"] == "4" and "Entered treatment" in funnel
    bins = [row[1] for row in _table(page, "#numbers-contact-times")]
    assert bins == [str(b["count"]) for b in report["contact_time_distribution"]]
    assert sum(int(n) for n in bins) == 4
    weeks = _table(page, "#numbers-series")
    assert sum(int(w[1]) for w in weeks) == 15 and sum(int(w[4]) for w in weeks) == 4
    teams = {row[0]: row[1] for row in _table(page, "#numbers-teams")}
    assert teams == {"Day team East": "2", "Evening team": "2"}
    for section in ("overdoses", "cases", "clinical", "repeats", "texts", "rejections"):
        expect(page.locator(f"section#{section} h2")).to_be_visible()
    expect(page.locator("#definitions dt")).to_have_count(len(report["definitions"]))
    assert page.get_attribute("#report-json", "href") == (
        f"/api/v1/programs/{PROGRAM}/report?from={seeded.first}&to={seeded.last}"
        "&by=week&share=false"
    )
    csv = page.request.get(stack.api + (page.get_attribute("#report-csv", "href") or ""))
    assert csv.ok and csv.headers["content-type"].startswith("text/csv")

    _no_overflow(page, PHONE)
    screenshots(page, "report-coordinator")
    a4, letter = _printed(page, "report-coordinator")
    assert 2 <= a4 <= 12 and 2 <= letter <= 12, (a4, letter)


def test_a_bad_value_in_the_form_is_said_and_the_default_shown(
    page: Page, stack: RunningStack, seeded: Seeded
) -> None:
    _member(page, stack, "report_coord2", "coordinator")
    answer = page.goto(f"{stack.api}{REPORT}?from=2026-02-30&to={seeded.last}&by=day")
    assert answer is not None and answer.status == 422
    said = page.locator("p.error")
    expect(said).to_contain_text("A day is a date such as 2026-03-01")
    expect(said).to_contain_text("by month or by week, not 'day'")
    expect(page.locator("#report-by")).to_have_value("month")
    expect(page.locator("svg.chart")).to_have_count(4)
    answer = page.goto(f"{stack.api}{REPORT}?from=2020-01-01&to={seeded.last}")
    assert answer is not None and answer.status == 422
    expect(said).to_contain_text("at most 3 years")
    page.fill("#report-from", seeded.first.isoformat())
    page.fill("#report-to", seeded.last.isoformat())
    page.select_option("#report-by", "week")
    page.check("#report-share")
    page.click("#report-show")
    expect(page).to_have_url(
        f"{stack.api}{REPORT}?from={seeded.first}&to={seeded.last}&by=week&share=true"
    )
    expect(page.locator("#share-note")).to_be_visible()


def test_shareable_figures_show_below_11_and_no_count_from_1_to_10(
    page: Page, stack: RunningStack, seeded: Seeded
) -> None:
    _member(page, stack, "report_pm", "program_manager")
    page.goto(f"{stack.api}{REPORT}?{seeded.query(share='true')}")
    expect(page.locator("#share-note")).to_be_visible()
    cells: list[str] = page.eval_on_selector_all(
        "main table td", "all => all.map(c => c.textContent.trim())"
    )
    assert "<11" in cells
    assert not SMALL & set(cells), sorted(SMALL & set(cells))
    labels: list[str] = page.eval_on_selector_all(
        "svg.chart g[id*='-value-']", "all => all.map(g => g.textContent.trim())"
    )
    assert "<11" in labels and not SMALL & set(labels), labels
    figures = _figures(page)
    # 15 shown, 1 fatal hidden: the 14 non-fatal would give it, so they are hidden too (>10)
    assert figures["overdoses.total"] == "15" and figures["overdoses.fatal"] == "<11"
    assert figures["overdoses.non_fatal"] == ">10"
    sources = {row[0]: row[1] for row in _table(page, "#overdoses-by-source")}
    assert sources == {"EMS": ">10", "Police": "<11"}  # the 15 reports, the total's
    agencies = [row[1] for row in _table(page, "#overdoses-by-agency")]
    assert sorted(agencies) == ["<11", ">10"]
    weeks = _table(page, "#numbers-series")
    assert not [w for w in weeks if sum(v in ("<11", ">10") for v in w[1:4]) == 1], weeks
    assert figures["cases.within_72h"] == "not shown"
    _no_overflow(page, PHONE)
    screenshots(page, "report-shareable")
    _printed(page, "report-shareable")


def test_law_enforcement_sees_the_report_without_its_clinical_section(
    page: Page, stack: RunningStack, seeded: Seeded
) -> None:
    _member(page, stack, "report_officer", "law_enforcement")
    page.goto(f"{stack.api}{REPORT}?{seeded.query()}")
    expect(page.locator("#no-clinical")).to_be_visible()
    expect(page.locator("section#clinical")).to_have_count(0)
    funnel = [row[0] for row in _table(page, "#numbers-funnel")]
    assert funnel[-1] == "Contacted" and "Entered treatment" not in funnel
    expect(page.locator("main")).not_to_contain_text("Referred to treatment")
    assert _figures(page)["overdoses.total"] == "15"
    expect(page.locator("svg.chart")).to_have_count(4)
    assert AGENCY in [row[0] for row in _table(page, "#overdoses-by-agency")]
    kinds = [row[0] for row in _table(page, "#cases-by-kind")]  # referral kinds in one row
    assert "Referral" in kinds and not [k for k in kinds if k.startswith("Referral:")], kinds
    _no_overflow(page, PHONE)
    screenshots(page, "report-law-enforcement")

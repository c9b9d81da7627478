"""Right at any hour, through the running stack (`qrt up`, SQLite and PostgreSQL):

- with a team whose shift covers the whole day, planned cases keep their version
  through later re-plans (another event arrives; the periodic re-plan runs);
- a fatal police report of a person with an open case and queued texts closes the case
  as deceased within seconds, with no text of it left queued, sending or checking;
- an EMS and a police report of one overdose give one case; linking a review of two
  open cases of one person leaves one open case.

The stack runs on the session's clock (`--clock-at`); the team's shift starts six
hours before it, so no shift ends while the test runs, whatever the hour."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.store.database import make_engine
from services.store.repository import Store
from services.store.tables import cases, program_state, sms_texts
from tests import wall_clock
from tests.stack_fixtures import fresh_pg_schema
from tests.support import ROOT, wait_for

pytestmark = pytest.mark.time_of_day

PROGRAM = """
[[program]]
id = "example"
name = "Any Hour County QRT"
timezone = "America/New_York"
county_fips = ["54011"]
agency_ids = ["EX-EMS-01", "EX-PD-01"]

[[program.team]]
id = "allday"
name = "All-day team"
capacity_per_shift = 50
[[program.team.shift]]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "{start}"
end = "{start}"
"""
SCENE = {"address": "12 Hill St", "city": "Huntington", "zip": "25701", "county_fips": "54011"}


class Stack:
    def __init__(self, proc: subprocess.Popen[str], data_dir: Path, api: str, url: str) -> None:
        self.proc, self.data_dir, self.api = proc, data_dir, api
        self.store = Store(make_engine(url))
        self.env = _env(data_dir, url)
        self.auth = {"Authorization": f"Bearer {self._token()}"}
        self.serial = 0

    def qrt(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *args], env=self.env, cwd=ROOT, input=stdin,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def _token(self) -> str:
        made = self.qrt("user", "create", "coord", "--role", "coordinator", "--program", "example")
        assert made.returncode == 0, made.stderr
        token = self.qrt("user", "token", "coord")
        assert token.returncode == 0, token.stderr
        return token.stdout.strip().splitlines()[-1]

    def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {**self.auth, "Content-Type": "application/json"}
        request = urllib.request.Request(self.api + path, data=data, headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return json.load(answer)

    def queue(self, status: str = "open") -> list[dict[str, Any]]:
        found = self.call(f"/api/v1/programs/example/queue?status={status}&limit=500")
        items: list[dict[str, Any]] = found["items"]
        return items

    def publish(self, *events: dict[str, Any]) -> None:
        lines = self.data_dir / f"publish-{self.serial}.jsonl"
        self.serial += 1
        lines.write_text("".join(json.dumps(e) + "\n" for e in events))
        done = self.qrt("publish", str(lines))
        assert done.returncode == 0, done.stdout + done.stderr

    def case_of(self, event_id: str, status: str = "open") -> dict[str, Any] | None:
        for item in self.queue(status):
            if any(e["event_id"] == event_id for e in item["events"]):
                return item
        return None

    def planned_at(self) -> datetime | None:
        with self.store.engine.connect() as conn:
            return conn.execute(
                select(program_state.c.planned_at).where(program_state.c.program_id == "example")
            ).scalar_one_or_none()


def _env(data_dir: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update(
        QRT_DATA_DIR=str(data_dir), DATABASE_URL=url, QRT_PROGRAMS_FILE=str(data_dir / "p.toml"),
        QRT_FULL_PLAN_MINUTES="0.05", QRT_SWEEP_SECONDS="0.5",
    )  # fmt: skip
    return env


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One stack per store for the module: each test names people of its own."""
    tmp_path = tmp_path_factory.mktemp(f"any-hour-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'qrt.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
        fresh_pg_schema(url)
    start = (wall_clock.now().astimezone(wall_clock.ZONE) - timedelta(hours=6)).strftime("%H:00")
    (tmp_path / "p.toml").write_text(PROGRAM.format(start=start))
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--api-port", "0"],
        env=_env(tmp_path, url), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    api = None
    deadline = time.monotonic() + 120
    while api is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"API: (http://\S+)", line)
        api = found.group(1) if found else None
    assert api, "qrt up never said it was ready:\n" + "".join(lines)
    running = Stack(proc, tmp_path, api, url)
    yield running
    running.store.dispose()
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def event(event_id: str, person: dict[str, Any], hours_ago: float, **extra: Any) -> dict[str, Any]:
    source = extra.pop("source", "ems")
    return {
        "event_id": event_id, "source": source,
        "agency_id": "EX-EMS-01" if source == "ems" else "EX-PD-01",
        "occurred_at": (wall_clock.now() - timedelta(hours=hours_ago)).isoformat(),
        "location": {"county_fips": "54011"}, "patient": person, **extra,
    }  # fmt: skip


NAMES = ["Rowan", "Briar", "Sage", "Wren", "Linden", "Ash"]


def person(n: int, **extra: Any) -> dict[str, Any]:
    return {"first_name": NAMES[n], "last_name": f"Anyhour{NAMES[n]}", "dob": "1988-08-08", **extra}


def test_planned_cases_keep_their_version_through_later_re_plans(stack: Stack) -> None:
    stack.publish(event("e-1", person(1), 13), event("e-2", person(2), 14))
    planned = wait_for(
        lambda: (
            all((c := stack.case_of(e)) and c["planned"] for e in ("e-1", "e-2"))
            and [stack.case_of(e) for e in ("e-1", "e-2")]
        ),
        30,
        "both cases planned in the running all-day shift",
    )
    versions = {c["case_id"]: c["version"] for c in planned}
    stack.publish(event("e-3", person(3), 13))  # another event: the program is re-planned
    wait_for(lambda: (c := stack.case_of("e-3")) and c["planned"], 30, "the third case planned")
    for _ in range(2):  # and the periodic re-plan of every program runs, twice
        mark = stack.planned_at()
        wait_for(lambda m=mark: (p := stack.planned_at()) and m and p > m, 30, "a later re-plan")
    after = {c["case_id"]: c["version"] for c in stack.queue() if c["case_id"] in versions}
    assert after == versions, "a re-plan of unchanged cases changes nothing"


def test_a_fatal_report_closes_the_case_and_leaves_no_text_to_send(stack: Stack) -> None:
    client = person(4, phone="+13045550142")
    stack.publish(event("e-4", client, 2, consent={"sms": True}))
    case = wait_for(lambda: stack.case_of("e-4"), 30, "the case")

    def texts() -> list[str]:
        with stack.store.engine.connect() as conn:
            return list(
                conn.execute(
                    select(sms_texts.c.state).where(sms_texts.c.case_id == case["case_id"])
                ).scalars()
            )

    wait_for(lambda: "queued" in texts(), 30, "the case's texts queued")
    stack.publish(event("p-4", client, 0, source="police", fatal=True))
    started = time.monotonic()
    wait_for(lambda: stack.case_of("e-4", "closed"), 15, "the case closed")
    took = time.monotonic() - started
    detail = stack.call(f"/api/v1/cases/{case['case_id']}")
    assert (detail["status"], detail["outcome"]) == ("closed", "deceased")
    assert not {"queued", "sending", "checking"} & set(texts()), texts()
    assert took < 10, f"closed {took:.1f} s after the fatal report was published"


def test_one_overdose_one_case_and_a_review_link_leaves_one_open_case(stack: Stack) -> None:
    zebulon = {"first_name": "Zebulon", "last_name": "Quarrington", "dob": "1987-03-14"}
    zeb = {"first_name": "Zeb", "last_name": "Quarington", "dob": "1987-03-14"}
    stack.publish(
        event("e-5", zebulon, 1, location=SCENE),
        event("p-5", zeb, 1 - 4 / 60, source="police", location=SCENE),
    )
    both = wait_for(
        lambda: (c := stack.case_of("e-5")) and len(c["events"]) == 2 and c, 30, "one case"
    )
    assert (stack.case_of("p-5") or {}).get("case_id") == both["case_id"]

    alex = {"first_name": "Alexandra", "last_name": "Testperson", "dob": "1990-01-02"}
    stack.publish(event("e-6", alex, 40))
    stack.publish(event("p-6", {**alex, "first_name": "Alexandrea"}, 2, source="police"))
    wait_for(lambda: stack.case_of("e-6") and stack.case_of("p-6"), 30, "two open cases")
    reviews = wait_for(lambda: stack.call("/api/v1/programs/example/reviews"), 30, "the review")
    (review,) = [r for r in reviews if r["case_id"] == stack.case_of("p-6")["case_id"]]  # type: ignore[index]
    stack.call(f"/api/v1/reviews/{review['id']}", {"decision": "link"})
    survivor = wait_for(
        lambda: (c := stack.case_of("e-6")) and len(c["events"]) == 2 and c, 30, "one case"
    )
    assert (stack.case_of("p-6") or {}).get("case_id") == survivor["case_id"]
    open_of_alex = [
        c for c in stack.queue() if {"e-6", "p-6"} & {e["event_id"] for e in c["events"]}
    ]
    assert len(open_of_alex) == 1
    with stack.store.engine.connect() as conn:
        merged = conn.execute(select(cases.c.merged_into).where(cases.c.outcome == "merged_into"))
        assert list(merged.scalars()) == [survivor["case_id"]]

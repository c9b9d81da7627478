"""Referrals on the running stack (`qrt up` on embedded defaults), through the public
interfaces: a self-referral posted to the API is a case in the queue within 5 s, matched
to the person the program knows and tiered from that person's history; `qrt referral
create` sends a walk-in, served within the walk-in's window."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests import wall_clock
from tests.e2e.test_stack_up import Stack, _event, _running
from tests.support import wait_for

PERSON = {"first_name": "Marisela", "last_name": "Brightwater", "dob": "1986-02-17"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from _running(tmp_path_factory.mktemp("referrals"))


def _post(stack: Stack, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 (loopback URL)
        stack.api + path, data=json.dumps(body).encode(), method="POST",
        headers={**stack.auth, "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return answer.status, json.load(answer)


def _case_of(stack: Stack, event_id: str) -> dict[str, Any] | None:
    for item in stack.queue():
        if any(e["event_id"] == event_id for e in item["events"]):
            return item
    return None


def test_a_self_referral_is_a_case_within_5_s_tiered_from_the_persons_history(
    stack: Stack, tmp_path: Path
) -> None:
    lines = tmp_path / "earlier.jsonl"
    lines.write_text(_event("ref-e2e-od", "ems", "EX-EMS-01", 600, patient=PERSON) + "\n")
    assert stack.qrt("publish", str(lines)).returncode == 0
    earlier = wait_for(lambda: _case_of(stack, "ref-e2e-od"), 30, "the earlier overdose's case")
    for args in (
        ("case", "attempt", earlier["case_id"], "--result", "not_located", "--team", "day-east"),
        ("case", "outcome", earlier["case_id"], "--outcome", "not_located"),
    ):
        done = stack.qrt(*args)
        assert done.returncode == 0, done.stderr
    wait_for(lambda: _case_of(stack, "ref-e2e-od") is None, 10, "the earlier case closed")

    referred = wall_clock.now() - timedelta(minutes=5)
    body = {"referral_id": "self-e2e-1", "kind": "self", "referred_at": referred.isoformat(),
            "person": {**PERSON, "phone": "+13045550193"}, "consent": {"visit": True}}  # fmt: skip
    started = time.monotonic()
    status, answer = _post(stack, "/api/v1/programs/example/referrals", body)
    assert (status, answer) == (202, {"referral_id": "self-e2e-1", "duplicate": False})
    case = wait_for(
        lambda: _case_of(stack, "self-e2e-1"),
        5 - (time.monotonic() - started),
        "the referral's case in the queue API",
    )
    assert (case["kind"], case["referral_kind"], case["tier"]) == ("referral", "self", "unlocated")
    assert case["person_id"] == earlier["person_id"], "matched to the person the program knows"
    assert case["case_id"] != earlier["case_id"]
    due = datetime.fromisoformat(case["window_due_at"])
    assert due == referred + timedelta(hours=24)  # the self-referral's default window
    detail = stack.get(f"/api/v1/cases/{case['case_id']}")
    assert [r["referral_id"] for r in detail["referrals"]] == ["self-e2e-1"]


def test_qrt_referral_create_sends_a_walk_in(stack: Stack) -> None:
    made = stack.qrt(
        "referral", "create", "--program", "example", "--kind", "walk_in", "--id", "walk-e2e-1",
        "--first-name", "Tobiah", "--city", "Huntington", "--referrer-name", "front desk",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "referral walk-e2e-1 sent to program example" in made.stdout
    assert "Tobiah" not in made.stdout  # personal data is never printed back
    case = wait_for(lambda: _case_of(stack, "walk-e2e-1"), 20, "the walk-in's case")
    opens, due = (datetime.fromisoformat(case[k]) for k in ("window_opens_at", "window_due_at"))
    assert (case["referral_kind"], due - opens) == ("walk_in", timedelta(hours=4))
    refused = stack.qrt("referral", "create", "--program", "example", "--kind", "self",
                        "--first-name", "Tobiah")  # fmt: skip
    assert refused.returncode == 2 and "a way to reach the person" in refused.stderr

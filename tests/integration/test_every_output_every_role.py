"""Every output, for every role: what a role may not see (services/accounts/redaction.py)
appears in none of them. The outputs: the queue (JSON and its page, and the rows the
page refreshes), a case's detail (JSON and page), the shift plan (JSON and page), the
live stream, the match reviews (JSON and page) and the CSV export.

The data holds one marker of each kind: a tier that tells a story (`deferred`), a
clinical fact (the substance "Carfentanil", a `contacted_declined_*` result), and the
person (name, phone, street). A role without clinical sight must meet no tier name and
no clinical marker; a role without sight of the person no personal marker. The roles
with sight see them, so a walk that reads nothing fails too."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from schemas.accounts import Role
from schemas.cases import VisitResult
from services.accounts.roles import CAPABILITIES, Capability
from services.cases.opening import open_cases
from services.cases.visits import record_attempt, record_outcome
from services.programs import load_programs
from services.store.repository import Store
from tests.integration.test_case_store import CIPHER, record
from tests.integration.test_least_privilege import live_lines
from tests.integration.test_queue_api import NOW, PATIENT, client_for
from tests.integration.test_web_pages import sign_in
from tests.support_accounts import bearer

TIERS = ("new", "unlocated", "deferred")
DECLINED = VisitResult.CONTACTED_DECLINED_FUTURE_INTEREST
PERSON_MARKERS = ("Dana", "5550142", "1 Test St")
CLINICAL_MARKERS = ("Carfentanil", DECLINED.value)


def seed(store: Store) -> str:
    """A `deferred` case (its person's last follow-up ended "declined, wants help later")
    with a suspected substance and a declined attempt of its own, and a report of someone
    who may be the same person (a review)."""
    programs = load_programs(None)
    program = programs.get("example")
    assert program is not None
    earlier = record("w1", patient=PATIENT, occurred_at="2026-11-12T08:30:00-05:00")
    open_cases(store, [earlier], programs, NOW - timedelta(days=10), CIPHER)
    (first,) = store.queue("example")
    day = NOW - timedelta(days=9)
    record_attempt(store, first.case_id, result=DECLINED, at=day, team_id=None, referral=None,
                   actor="t", now=day)  # fmt: skip
    record_outcome(store, first.case_id, outcome=DECLINED, referral=None, actor="t", now=day,
                   tier_rules=program.tiers)  # fmt: skip
    now_report = record("w2", patient=PATIENT, suspected_substances=["Carfentanil"])
    open_cases(store, [now_report], programs, NOW, CIPHER)
    (case,) = store.queue("example")
    assert case.tier == "deferred"
    record_attempt(store, case.case_id, result=DECLINED, at=NOW, team_id=None, referral=None,
                   actor="t", now=NOW)  # fmt: skip
    other = record("w3", patient={**PATIENT, "dob": "1975-07-30"},
                   occurred_at="2026-11-22T06:00:00-05:00")  # fmt: skip
    assert open_cases(store, [other], programs, NOW, CIPHER).reviews == 1
    return case.case_id


def _strings(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, key)
    else:
        yield key, value


def leaks(kind: str, body: str, clinical: bool, person: bool) -> list[str]:
    """What of the markers `body` shows that a role with this sight may not see."""
    found = []
    if kind == "json":
        pairs = list(_strings(json.loads(body)))
        texts = [str(v) for _, v in pairs if isinstance(v, str)]
        if not clinical:
            found += [f"tier {v}" for k, v in pairs if k == "tier" and v != "follow-up"]
            found += [f"referral {v}" for k, v in pairs if k == "referral" and v is not None]
            found += [m for m in CLINICAL_MARKERS if any(m in t for t in texts)]
        if not person:
            found += [m for m in PERSON_MARKERS if any(m in t for t in texts)]
        return found
    if not clinical:
        if kind == "csv":
            found += [f"tier {t}" for t in TIERS if f",{t}," in body]
        else:  # html: a tier's badge, or a tier's name as a cell
            found += [f"tier {t}" for t in TIERS if f"tier-{t}" in body or f">{t}<" in body]
        found += [m for m in ("Carfentanil",) if m in body]
        found += [DECLINED.value for _ in re.findall(rf"(?:· |,){DECLINED.value}", body)]
    if not person:
        found += [m for m in PERSON_MARKERS if m in body]
    return found


def outputs(
    client: TestClient, headers: dict[str, str], case_id: str
) -> list[tuple[str, str, int, str]]:
    """(output, kind, status, body) of every output, as this caller."""
    api = [
        ("queue", "/api/v1/programs/example/queue?status=all"),
        ("queue with names", "/api/v1/programs/example/queue?status=all&include=person"),
        ("queue with reasons", "/api/v1/programs/example/queue?status=all&include=tier_reason"),
        ("case detail", f"/api/v1/cases/{case_id}"),
        ("plan", "/api/v1/programs/example/plan"),
        ("reviews", "/api/v1/programs/example/reviews"),
    ]
    found = []
    for name, path in api:
        answer = client.get(path, headers=headers)
        found.append((name, "json", answer.status_code, answer.text))
    csv = client.get("/api/v1/programs/example/export.csv?status=all", headers=headers)
    found.append(("csv", "csv", csv.status_code, csv.text))
    events = live_lines(client, headers, stop_after=6)
    found.append(("live", "json", 200, json.dumps([json.loads(e) for e in events])))
    pages = [
        ("queue page", "/programs/example/queue?status=all"),
        ("queue rows", "/programs/example/queue/rows?status=all"),
        ("case page", f"/cases/{case_id}"),
        ("plan page", "/programs/example/plan"),
        ("reviews page", "/programs/example/reviews"),
    ]
    for name, path in pages:
        answer = client.get(path, follow_redirects=False)
        found.append((name, "html", answer.status_code, answer.text))
    return found


def test_no_output_shows_a_role_what_it_may_not_see(store: Store) -> None:
    case_id = seed(store)
    seen: dict[Role, dict[str, str]] = {}
    problems = []
    for role in Role:
        caps = CAPABILITIES[role]
        clinical, person = Capability.VIEW_CLINICAL in caps, Capability.VIEW_PERSON in caps
        username = f"walk_{role.value}"
        headers = bearer(store, username, role)
        with client_for(store) as client:
            assert sign_in(client, username).status_code == 303
            answers = outputs(client, headers, case_id)
        assert all(status in (200, 403, 404) for _, _, status, _ in answers), answers
        seen[role] = {name: body for name, _, status, body in answers if status == 200}
        assert "queue" in seen[role] and "case page" in seen[role], role
        for name, kind, status, body in answers:
            if status == 200:
                problems += [f"{role.value} / {name}: {leak}"
                             for leak in leaks(kind, body, clinical, person)]  # fmt: skip
    assert problems == []
    # the markers are there for the roles that may see them
    coordinator = seen[Role.COORDINATOR]
    for name in ("case detail", "case page"):
        assert all(m in coordinator[name] for m in ("Carfentanil", "Dana")), name
    assert "deferred" in coordinator["queue"] and ",deferred," in coordinator["csv"]
    assert "Dana" in coordinator["reviews"] and "Dana" in coordinator["reviews page"]
    assert "Dana" in coordinator["queue with names"] and "Dana" in coordinator["queue page"]
    assert "wants help later" in coordinator["queue with reasons"]
    manager = seen[Role.PROGRAM_MANAGER]
    assert "Carfentanil" in manager["csv"] and "Dana" not in manager["csv"]
    officer = seen[Role.LAW_ENFORCEMENT]
    assert "Dana" in officer["case detail"] and '"tier":"follow-up"' in officer["queue"]
    assert "Dana" in officer["queue with names"] and "queue with reasons" not in officer
    assert "wants help later" in manager["queue with reasons"] and "queue with names" not in manager

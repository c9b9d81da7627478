"""What a new user tripped over, each tried the way they tried it (issue 15, item 8), on
the real store (SQLite and PostgreSQL) and, for `qrt publish --example`, the embedded
broker:

- the tour's example events are timed from the clock's now: open cases with a plan;
- an unknown program answers 404 naming the caller's own programs, on every route;
- a page that fails is a page for a browser, while the API stays JSON;
- `POST /api/v1/tokens` takes a JSON body as well as the form;
- the CLI takes the 8 characters of a case id the pages show, and refuses an
  ambiguous or unknown start saying so;
- `qrt case attempt --team` refuses a team the program does not have, as the API does;
- `qrt queue --limit` says how many of how many;
- a closed pipe (`qrt queue | head`) ends every command quietly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from schemas.accounts import Role
from schemas.intake import IntakeRecord, Origin
from schemas.overdose_event import OverdoseEvent
from services.bootstrap import bootstrap
from services.cases.opening import case_id_for, open_cases
from services.cases.replanning import plan_program
from services.cases.reviews import open_reviews
from services.cases.timers import sweep_timers
from services.cli import main
from services.crypto.fields import FieldCipher
from services.ingest.screening import ScreeningRules, screen
from services.programs import load_programs
from services.settings import Settings
from services.simulation.example_events import example_events
from services.store.queue_reads import QueueFilters, queue_page
from services.store.repository import Store
from services.store.tables import attempts
from services.topics import ensure_topics
from tests import wall_clock
from tests.integration.test_case_store import CIPHER, record
from tests.integration.test_queue_api import PATIENT, client_for, seed
from tests.integration.test_web_pages import csrf_of, sign_in
from tests.support import ROOT, read_topic
from tests.support_accounts import PASSWORD, bearer, make_user

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
EXAMPLE_PROGRAMS = ROOT / "services" / "example_programs.toml"
OTHER_PROGRAM = """
[[program]]
id = "other"
name = "Other County QRT"
timezone = "America/Chicago"
county_fips = ["17031"]
agency_ids = ["OT-EMS-01"]
"""
PROGRAM_ROUTES = ("queue", "plan", "reviews", "export.csv", "live")


# --- 1. qrt publish --example -------------------------------------------------------------


def test_the_example_events_are_timed_from_now_with_places_and_phones() -> None:
    events = [OverdoseEvent.model_validate(e) for e in example_events(NOW)]
    assert {e.source.value for e in events} == {"ems", "police"}
    ages = sorted(NOW - e.occurred_at for e in events)
    assert ages[0] >= timedelta(hours=2) and ages[-1] <= timedelta(hours=30)
    for e in events:
        place = e.location
        assert place.address and place.city and place.zip and place.description, e.event_id
        assert place.lat is not None and place.lon is not None, e.event_id
        assert e.patient is not None and e.patient.phone, e.event_id
    people = [(e.patient.first_name, e.patient.dob) for e in events if e.patient]
    assert len(set(people)) == len(people) - 1, "one person overdoses twice"
    later = example_events(NOW + timedelta(days=1))
    assert {e["event_id"] for e in later}.isdisjoint(e.event_id for e in events)


def test_publish_example_gives_open_plannable_cases_on_the_injected_clock(
    broker: str, topic_prefix: str, store: Store, cipher: FieldCipher, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv(wall_clock.OFFSET_VARIABLE, str(-9 * 86400))  # the clock of the stack
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker)
    monkeypatch.setenv("QRT_TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("QRT_DATA_DIR", str(tmp_path))
    ensure_topics(Settings(topic_prefix=topic_prefix), broker)
    assert main(["publish", "--example"]) == 0
    assert "published 4 event(s); 0 refused; 0 failed" in capsys.readouterr().out
    now = wall_clock.now()
    messages = [
        *read_topic(broker, f"{topic_prefix}overdose.ems.v1", 3),
        *read_topic(broker, f"{topic_prefix}overdose.police.v1", 1),
    ]
    assert len(messages) == 4
    programs = load_programs(None)
    records = [
        screen(m.value, Origin(topic=m.topic, partition=m.partition, offset=m.offset),
               programs=programs, now=now, rules=ScreeningRules())
        for m in messages
    ]  # fmt: skip
    assert all(isinstance(r, IntakeRecord) for r in records), records
    for r in records:
        assert isinstance(r, IntakeRecord)
        assert timedelta(hours=1) < now - r.event.occurred_at < timedelta(hours=31)
    open_cases(store, [r for r in records if isinstance(r, IntakeRecord)], programs, now, cipher)
    sweep_timers(store, now)
    plan_program(store, programs.programs[0], now)
    with store.engine.connect() as conn:
        page = queue_page(conn, "example", QueueFilters(status=None), limit=50, now=now)
    assert page.total == 3, "three people; the repeat joins its person's open case"
    assert sorted(len(i.events) for i in page.items) == [1, 1, 2]
    for item in page.items:
        assert item.status.value == "open" and not item.missed, item
        assert item.at_risk_reason is None and item.planned is not None, item
        assert item.window_due_at > now


# --- 2. an unknown program ----------------------------------------------------------------


def test_an_unknown_program_is_404_naming_only_the_callers_programs(
    store: Store, tmp_path: Path
) -> None:
    programs = tmp_path / "programs.toml"
    programs.write_text(EXAMPLE_PROGRAMS.read_text() + OTHER_PROGRAM)
    admin = bearer(store, "root", Role.ADMIN, "*")
    member = bearer(store, "coord", Role.COORDINATOR, "example")
    outsider = bearer(store, "far", Role.COORDINATOR, "other")
    with client_for(store, programs_file=programs) as client:
        for route in PROGRAM_ROUTES:
            said = {}
            for name, auth in (("admin", admin), ("member", member), ("outsider", outsider)):
                answer = client.get(f"/api/v1/programs/nope/{route}", headers=auth)
                assert answer.status_code == 404, (route, name, answer.text)
                said[name] = answer.json()["detail"]
            assert said["admin"] == "no program 'nope'; your programs: example, other", route
            assert said["member"] == "no program 'nope'; your programs: example", route
            assert said["outsider"] == "no program 'nope'; your programs: other", route
        # a program that exists but is not theirs: the same words, nothing about it
        refused = client.get("/api/v1/programs/example/queue", headers=outsider)
        assert refused.status_code == 404
        assert refused.json()["detail"] == "no program 'example'; your programs: other"
        assert client.get("/api/v1/programs/example/queue", headers=member).status_code == 200


# --- 3. an error on a page is a page ------------------------------------------------------

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _review_of(store: Store) -> int:
    """A review (one name, two dates of birth) for a coordinator to decide."""
    open_cases(store, [record("r1", patient=PATIENT),
                       record("r2", patient={**PATIENT, "dob": "1975-07-30"},
                              occurred_at="2026-11-22T10:00:00-05:00")],
               load_programs(None), NOW, CIPHER)  # fmt: skip
    (review,) = open_reviews(store, "example")
    return review.id


def test_a_failing_page_is_a_readable_page_and_the_api_stays_json(store: Store) -> None:
    review_id = _review_of(store)
    make_user(store, "coord", Role.COORDINATOR)
    with client_for(store) as client:
        assert sign_in(client, "coord").status_code == 303
        missing = client.get("/cases/not-a-case", headers=HTML)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
        assert "<h1>Not found</h1>" in missing.text and "No case &#39;not-a-case&#39;" in (
            missing.text
        )
        assert "script-src 'self'" in missing.headers["content-security-policy"]
        unknown = client.get("/programs/nope/queue", headers=HTML)
        assert unknown.status_code == 404 and "your programs: example" in unknown.text
        token = csrf_of(client.get("/programs/example/queue").text)
        forged = client.post(f"/reviews/{review_id}", data={"decision": "link"}, headers=HTML)
        assert forged.status_code == 403 and "<h1>Not allowed</h1>" in forged.text
        bad = client.post(f"/reviews/{review_id}", headers=HTML,
                          data={"decision": "maybe", "csrf_token": token})  # fmt: skip
        assert bad.status_code == 422 and "Missing or not valid: Decision." in bad.text
        form = {"decision": "keep_apart", "csrf_token": token}
        done = client.post(f"/reviews/{review_id}", data=form, headers=HTML)
        assert done.status_code == 200 and "kept apart" in done.text
        again = client.post(f"/reviews/{review_id}", data=form, headers=HTML)
        assert again.status_code == 409 and "<h1>This cannot be done now</h1>" in again.text
        assert 'href="/"' in again.text, "a way back to the work queue"
        # the API answers JSON, whatever the client accepts; a program asking for a
        # page's address without asking for HTML keeps the JSON it had
        api = client.get("/api/v1/cases/not-a-case", headers=HTML)
        assert api.status_code == 404 and api.json() == {"detail": "no case 'not-a-case'"}
        plain = client.get("/cases/not-a-case")
        assert plain.status_code == 404 and plain.json() == {"detail": "no case 'not-a-case'"}
    with client_for(store) as stranger:  # not signed in: a way to sign in
        nowhere = stranger.get("/no-such-page", headers=HTML)
        assert nowhere.status_code == 404 and 'href="/login?next=/no-such-page"' in nowhere.text


# --- 4. a token for a JSON body -----------------------------------------------------------


def test_a_token_for_a_json_body_or_for_the_form(store: Store) -> None:
    make_user(store, "coord", Role.COORDINATOR)
    with client_for(store) as client:
        by_json = client.post(
            "/api/v1/tokens", json={"username": "coord", "password": PASSWORD, "label": "laptop"}
        )
        by_form = client.post("/api/v1/tokens", data={"username": "coord", "password": PASSWORD})
        assert by_json.status_code == 201 and by_form.status_code == 201, by_json.text
        for issued in (by_json, by_form):
            auth = {"Authorization": f"Bearer {issued.json()['access_token']}"}
            assert client.get("/api/v1/me", headers=auth).json()["username"] == "coord"
        mine = client.get("/api/v1/me/tokens", headers=auth).json()
        assert sorted(str(t["label"]) for t in mine) == ["None", "laptop"]
        wrong = client.post("/api/v1/tokens", json={"username": "coord", "password": "nope"})
        assert wrong.status_code == 401
        short = client.post("/api/v1/tokens", json={"username": "coord"})
        assert short.status_code == 422
        assert short.json()["detail"][0]["loc"] == ["body", "password"]
        assert "input" not in short.json()["detail"][0], "a refusal never echoes a password"
        for body in (b"[1]", b'"coord"', b"{"):
            odd = client.post(
                "/api/v1/tokens", content=body, headers={"Content-Type": "application/json"}
            )
            assert odd.status_code == 422, body
        text = client.post("/api/v1/tokens", content=b"coord", headers={"Content-Type": "text/x"})
        assert text.status_code == 415
        schema = client.get("/openapi.json").json()["paths"]["/api/v1/tokens"]["post"]
        assert set(schema["requestBody"]["content"]) == {
            "application/json",
            "application/x-www-form-urlencoded",
        }


# --- 5, 6, 7. case ids, teams and counts on the command line ------------------------------


def _cli_on(store: Store, database_url: str, tmp_path: Path, mp: pytest.MonkeyPatch) -> Any:
    """The CLI's settings pointed at the test's database; the context it builds."""
    mp.setenv("DATABASE_URL", database_url)
    mp.setenv("QRT_DATA_DIR", str(tmp_path))
    mp.delenv("QRT_PROGRAMS_FILE", raising=False)
    return bootstrap(Settings())


def _sharing_a_start(length: int = 6) -> tuple[str, str]:
    """Two event ids whose cases' ids start with the same `length` characters."""
    seen: dict[str, str] = {}
    n = 0
    while True:
        n += 1
        event_id = f"twin-{n}"
        start = case_id_for(record(event_id).event)[:length]
        if start in seen:
            return seen[start], event_id
        seen[start] = event_id


def _open(ctx: Any, *event_ids: str) -> list[str]:
    batch = [record(e, occurred_at=f"2026-11-22T0{i % 9}:00:00+00:00")
             for i, e in enumerate(event_ids)]  # fmt: skip
    open_cases(ctx.store, batch, ctx.programs, NOW, ctx.cipher)
    return [case_id_for(r.event) for r in batch]


def _attempts(ctx: Any) -> int:
    with ctx.store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(attempts)).scalar_one())


def test_the_cli_takes_the_start_of_a_case_id_the_pages_show(
    store: Store, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ctx = _cli_on(store, database_url, tmp_path, monkeypatch)
    first, second = _sharing_a_start()
    twin_a, twin_b = _open(ctx, first, second)
    (lone,) = _open(ctx, "lone")
    assert twin_a[:6] == twin_b[:6] and twin_a != twin_b
    attempt = ["case", "attempt", "--result", "not_located", "--team", "day-east"]
    assert main([*attempt[:2], lone[:8], *attempt[2:]]) == 0, capsys.readouterr().err
    assert f"attempt 1 recorded on case {lone}" in capsys.readouterr().out
    assert main(["case", "outcome", lone[:6].upper(), "--outcome", "not_located"]) == 0
    assert f"case {lone} closed" in capsys.readouterr().out
    with pytest.raises(SystemExit) as ambiguous:
        main([*attempt[:2], twin_a[:6], *attempt[2:]])
    assert str(ambiguous.value) == (
        f"error: 2 cases have ids starting with {twin_a[:6]!r}; give more characters"
    )
    longer = twin_a[: next(i for i in range(6, 36) if twin_a[:i] != twin_b[:i])]
    assert main([*attempt[:2], longer, *attempt[2:]]) == 0
    assert f"recorded on case {twin_a}" in capsys.readouterr().out
    for typed, said in (
        ("abcdef12", "error: no case id starts with 'abcdef12'"),
        (lone[:5], f"error: no case {lone[:5]!r}; give the case id or at least its first 6"),
        ("not-a-case!", "error: no case 'not-a-case!'"),
    ):
        with pytest.raises(SystemExit) as refused:
            main(["case", "outcome", typed, "--outcome", "not_located"])
        assert str(refused.value).startswith(said), typed
    assert _attempts(ctx) == 2


def test_cli_attempt_refuses_a_team_the_program_does_not_have(
    store: Store, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ctx = _cli_on(store, database_url, tmp_path, monkeypatch)
    (case_id,) = _open(ctx, "teamed")
    with pytest.raises(SystemExit) as refused:
        main(["case", "attempt", case_id, "--result", "not_located", "--team", "nosuchteam"])
    assert str(refused.value) == (
        "error: no team 'nosuchteam' in example; teams: day-east, evening, weekend"
    )
    assert _attempts(ctx) == 0
    # the API refuses the same team with the same rule
    headers = bearer(store, "coord", Role.COORDINATOR)
    with client_for(store) as client:
        api = client.post(f"/api/v1/cases/{case_id}/attempts", headers=headers,
                          json={"result": "not_located", "team_id": "nosuchteam"})  # fmt: skip
    assert api.status_code == 422 and "no team 'nosuchteam' in example" in api.json()["detail"]
    assert main(["case", "attempt", case_id, "--result", "not_located", "--team", "evening"]) == 0
    assert _attempts(ctx) == 1


def test_cli_queue_with_a_limit_says_how_many_of_how_many(
    store: Store, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ctx = _cli_on(store, database_url, tmp_path, monkeypatch)
    _open(ctx, *(f"q{n}" for n in range(7)))
    assert main(["queue", "--program", "example", "--limit", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "5 of 7 open case(s) in program example"
    assert len(out) == 2 + 5
    assert main(["queue", "--program", "example"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "7 open case(s) in program example"
    assert main(["queue", "--program", "example", "--limit", "3", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


# --- 8. a closed pipe ---------------------------------------------------------------------


def test_every_command_ends_quietly_on_a_closed_pipe(tmp_path: Path) -> None:
    """`qrt queue | head`: the reader is gone before the command writes (its end of the
    pipe closed first, so every write fails, whatever the timing)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "QRT_PROGRAMS_FILE"}}
    env["QRT_DATA_DIR"] = str(tmp_path)
    qrt = [sys.executable, "-m", "services.cli"]
    subprocess.run([*qrt, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
    seed(bootstrap(Settings(data_dir=tmp_path)).store)
    for command in (
        ["queue", "--program", "example"],
        ["sms", "outbox"],
        ["schema", "overdose-event"],
        ["keys", "new"],
    ):
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            done = subprocess.run(
                [*qrt, *command], env=env, cwd=ROOT, stdout=write_end,
                stderr=subprocess.PIPE, text=True, timeout=60,
            )  # fmt: skip
        finally:
            os.close(write_end)
        assert done.returncode == 141, (command, done.returncode, done.stderr)
        assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, command
        assert "Exception ignored" not in done.stderr, command

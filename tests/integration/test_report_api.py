"""`GET /api/v1/programs/{id}/report` and `qrt report` on the known month
(tests/integration/report_month.py): who gets which figures, the figures for release,
the period's checks, CSV and JSON that parse, the read audited."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from schemas.accounts import Role
from services.api.app import create_app
from services.bootstrap import bootstrap
from services.cli import main
from services.crypto.fields import FieldCipher
from services.settings import Settings
from services.store.repository import Store
from services.store.tables import audit_log
from tests.integration.report_month import ACCOUNT, PROGRAMS, TOKEN, Month, build_month
from tests.integration.test_report_figures import WEEKS, small_counts
from tests.support_accounts import bearer
from tests.support_twilio import FakeTwilio

OCTOBER = "/api/v1/programs/example/report?from=2026-10-01&to=2026-10-31"


@pytest.fixture
def month(store: Store, cipher: FieldCipher) -> Iterator[Month]:
    with FakeTwilio(ACCOUNT, TOKEN) as fake:
        yield build_month(store, cipher, fake)


@pytest.fixture
def client(month: Month) -> Iterator[TestClient]:
    settings = Settings()
    ctx = bootstrap(
        settings, store=month.store, cipher=month.cipher, clock=month.clock, programs=PROGRAMS
    )
    with TestClient(create_app(settings, ctx=ctx)) as http:
        yield http


def test_a_program_manager_gets_every_figure_law_enforcement_no_clinical_one(
    month: Month, client: TestClient
) -> None:
    manager = bearer(month.store, "manager", Role.PROGRAM_MANAGER)
    officer = bearer(month.store, "officer", Role.LAW_ENFORCEMENT)
    full = client.get(OCTOBER, headers=manager)
    assert full.status_code == 200, full.text
    body = full.json()
    assert body["clinical"] is True and body["clinical_figures"]["entered"] == 2
    assert [s["step"] for s in body["cases"]["funnel"]][-1] == "retained_90d"
    assert body["overdoses"]["total"] == 10 and body["texts"]["opted_out"] == 1
    cut = client.get(OCTOBER, headers=officer)
    assert cut.status_code == 200
    police = cut.json()
    assert police["clinical"] is False and police["clinical_figures"] is None
    assert [s["step"] for s in police["cases"]["funnel"]][-1] == "contacted"
    assert police["overdoses"] == body["overdoses"] and police["by_team"] == body["by_team"]
    for word in ("treatment", "moud", "detox", "naloxone", "accepted", "declined", "referral:"):
        assert word not in cut.text.lower(), word
    assert [k["name"] for k in police["cases"]["opened_by_kind"]] == [
        "overdose", "referral", "family_support",
    ]  # fmt: skip
    assert "referral:family" in full.text
    with month.store.engine.connect() as conn:
        reads = conn.execute(
            select(audit_log.c.actor, audit_log.c.subject_id, audit_log.c.detail).where(
                audit_log.c.action == "report_read"
            )
        ).all()
    assert [(r.actor, r.subject_id) for r in reads] == [
        ("user:manager", "example"), ("user:officer", "example"),
    ]  # fmt: skip
    assert json.loads(reads[1].detail) == {
        "from": "2026-10-01", "to": "2026-10-31", "by": "month", "share": False,
        "clinical": False,
    }  # fmt: skip


def test_shared_figures_have_no_count_from_1_to_10_anywhere(
    month: Month, client: TestClient
) -> None:
    coordinator = bearer(month.store, "coord", Role.COORDINATOR)
    shared = client.get(f"{OCTOBER}&share=true&by=week", headers=coordinator)
    assert shared.status_code == 200
    body = shared.json()
    assert body["share"] is True and body["by"] == "week" and len(body["series"]) == 5
    assert small_counts(body) == []
    assert body["overdoses"]["total"] == "<11" and body["cases"]["opened_by_kind"][2] == {
        "name": "family_support", "count": 0,
    }  # fmt: skip


def test_the_period_is_checked_and_defaults_to_the_last_12_full_months(
    month: Month, client: TestClient
) -> None:
    peer = bearer(month.store, "peer", Role.OUTREACH)
    base = "/api/v1/programs/example/report"
    backwards = client.get(f"{base}?from=2026-10-31&to=2026-10-01", headers=peer)
    assert backwards.status_code == 422
    assert backwards.json()["detail"] == "`from` (2026-10-31) is after `to` (2026-10-01)"
    too_long = client.get(f"{base}?from=2020-01-01&to=2026-10-01", headers=peer)
    assert too_long.status_code == 422 and "at most 3 years" in too_long.json()["detail"]
    not_a_day = client.get(f"{base}?from=2026-13-01", headers=peer)
    assert not_a_day.status_code == 422 and "from" in not_a_day.text
    assert client.get(f"{base}?by=year", headers=peer).status_code == 422
    default = client.get(base, headers=peer).json()  # the clock: 2027-01-10
    assert (default["period_from"], default["period_to"]) == ("2026-01-01", "2026-12-31")
    assert default["overdoses"]["total"] == 14  # Gale (Aug), Drew (Sep), Fay, October, C7
    assert client.get(base).status_code == 401
    assert client.get("/api/v1/programs/elsewhere/report", headers=peer).status_code == 404


def test_the_csv_has_one_row_a_figure(month: Month, client: TestClient) -> None:
    manager = bearer(month.store, "manager", Role.PROGRAM_MANAGER)
    answer = client.get(f"{OCTOBER}&format=csv", headers=manager)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "example-report-2026-10-01-2026-10-31.csv" in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == ["section", "measure", "value"] and all(len(r) == 3 for r in rows)
    found = {(s, m): v for s, m, v in rows[1:]}
    assert found[("overdoses", "by_agency:EX-SO-01")] == "1"
    assert found[("cases", "funnel:retained_90d")] == "1"
    assert found[("cases", "to_first_contact.p90_hours")] == "78.2"
    assert found[("series", "2026-10-01.first_contacts")] == "4"
    assert found[("by_team", "evening.to_first_contact.median_hours")] == "77.0"
    assert found[("rejections", "EX-PD-01:occurred_in_future")] == "1"
    assert found[("contact_time_distribution", "168h+")] == "0"


def qrt(month: Month, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, *args: str) -> int:
    monkeypatch.setenv("DATABASE_URL", month.store.engine.url.render_as_string(False))
    monkeypatch.setenv("QRT_DATA_DIR", str(tmp_path))
    return main(["report", "--program", "example", "--from", "2026-10-01", "--to", "2026-10-31",
                 *args])  # fmt: skip


def test_qrt_report_prints_a_table_json_and_csv(
    month: Month, monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert qrt(month, monkeypatch, tmp_path) == 0
    table = capsys.readouterr().out
    assert "Example County Quick Response Team (example): 2026-10-01 to 2026-10-31" in table
    assert "Overdoses reported" in table and "Outcomes, referrals and services" in table
    line = next(x for x in table.splitlines() if x.strip().startswith("total "))
    assert line.split() == ["total", "10"]
    assert qrt(month, monkeypatch, tmp_path, "--format", "json", "--by", "week") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["clinical"] is True and report["clinical_figures"]["naloxone_kits"] == 3
    assert [p["start"] for p in report["series"]] == [w[0] for w in WEEKS]
    assert qrt(month, monkeypatch, tmp_path, "--format", "csv") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["section", "measure", "value"]
    assert ["texts", "failed", "1"] in rows and ["repeats", "within_90d_after_contact", "3"] in rows


def test_qrt_report_share_prints_no_count_from_1_to_10(
    month: Month, monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert qrt(month, monkeypatch, tmp_path, "--share", "--format", "json") == 0
    assert small_counts(json.loads(capsys.readouterr().out)) == []
    assert qrt(month, monkeypatch, tmp_path, "--share", "--format", "csv") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))[1:]
    figures = [v for s, _, v in rows if s != "report"]
    assert "<11" in figures
    assert not [v for v in figures if v.isdigit() and 1 <= int(v) <= 10]
    assert qrt(month, monkeypatch, tmp_path, "--share") == 0
    table = capsys.readouterr().out
    assert "For release" in table
    values = [line.split()[-1] for line in table.splitlines()[2:] if line.startswith("  ")]
    assert values and not [v for v in values if v.isdigit() and 1 <= int(v) <= 10]


def test_qrt_report_refuses_an_unknown_program_and_a_bad_period(
    month: Month, monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("DATABASE_URL", month.store.engine.url.render_as_string(False))
    monkeypatch.setenv("QRT_DATA_DIR", str(tmp_path))
    assert main(["report", "--program", "nowhere"]) == 2
    assert "no program 'nowhere'" in capsys.readouterr().err
    assert main(["report", "--program", "example", "--from", "2026-10-31", "--to",
                 "2026-10-01"]) == 2  # fmt: skip
    assert "is after `to`" in capsys.readouterr().err

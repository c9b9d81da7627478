"""Retention on SQLite and PostgreSQL (services/retention):

- a run keeping personal data one year removes it of the person whose cases closed two
  years ago and of the case of nobody, and leaves the person closed lately and the one
  with an open case untouched; `qrt retention run` with a 0-year setting then removes it
  of the person closed lately too, never of the one with an open case: no sealed value,
  token or stand-in of theirs is left anywhere in the store, their sealed columns are
  empty, nothing is in the clear; the audit log names who was purged (ids and counts);
  a second run removes nothing and says so; the report of the whole earlier period gives
  the same figures before and after;
- `--dry-run` counts and changes nothing;
- the timer worker's nightly job runs from 03:00 program time, once a program-local day,
  again after a restart only the next day;
- the audit log's one delete path: an ordinary DELETE (and TRUNCATE, UPDATE) is still
  refused, the job's delete works, and never reaches a row newer than its cutoff."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, or_, select, text
from sqlalchemy.exc import DBAPIError

from schemas.report import ReportBy
from services.bootstrap import bootstrap
from services.cli import main
from services.crypto.fields import FieldCipher
from services.reporting.build import program_report
from services.retention.job import run_retention, trim_audit_log
from services.retention.nightly import nightly_retention
from services.settings import Settings
from services.store.case_records import audit
from services.store.repository import Store
from services.store.tables import (
    attempts,
    audit_log,
    case_contacts,
    cases,
    events,
    person_addresses,
    person_index,
    persons,
    rejections,
    retention_grants,
    retention_purges,
    sms_consents,
    sms_replies,
    sms_texts,
)
from tests import wall_clock
from tests.integration.engine_support import PROGRAM_TOML
from tests.integration.retention_support import SECRETS, Built, build, programs_kept, text_values
from workers import timers

STAND_IN = "purged."


def cases_of(store: Store, person_ids: list[str]) -> list[str]:
    with store.engine.connect() as conn:
        return list(
            conn.execute(select(cases.c.id).where(cases.c.person_id.in_(person_ids))).scalars()
        )


def personal_values(store: Store, person_ids: list[str], case_ids: list[str]) -> set[str]:
    """Every sealed value and token held for these persons and cases."""
    e, t, r, k, c = events.c, sms_texts.c, sms_replies.c, sms_consents.c, case_contacts.c
    queries = [
        select(persons.c.identity_sealed).where(persons.c.id.in_(person_ids)),
        select(person_addresses.c.address_sealed).where(
            person_addresses.c.person_id.in_(person_ids)
        ),
        select(person_index.c.token).where(person_index.c.person_id.in_(person_ids)),
        *(
            select(e[name]).where(or_(e.case_id.in_(case_ids), e.person_id.in_(person_ids)))
            for name in ("patient_sealed", "scene_sealed", "referral_sealed", "clinical_sealed",
                         "phone_token", "scene_tokens")
        ),
        select(attempts.c.notes_sealed).where(attempts.c.case_id.in_(case_ids)),
        select(c.contact_sealed).where(c.case_id.in_(case_ids)),
        select(c.phone_token).where(c.case_id.in_(case_ids)),
        select(t.to_sealed).where(t.case_id.in_(case_ids)),
        select(t.phone_token).where(t.case_id.in_(case_ids)),
        select(r.body_sealed).where(r.case_id.in_(case_ids)),
        select(r.phone_token).where(r.case_id.in_(case_ids)),
        select(k.phone_token).where(or_(k.person_id.in_(person_ids), k.case_id.in_(case_ids))),
    ]  # fmt: skip
    found: set[str] = set()
    with store.engine.connect() as conn:
        for query in queries:
            for value in conn.execute(query).scalars():
                found.update(v for v in (value or "").split(" ") if v)
    return found


def rejection_originals(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.execute(select(rejections.c.original_sealed)).scalars()) - {""}


def assert_emptied(store: Store, person_ids: list[str], case_ids: list[str]) -> None:
    """The sealed columns of these persons and cases are empty; their tokens gone."""
    with store.engine.connect() as conn:
        ids = persons.c.id.in_(person_ids)
        assert set(conn.execute(select(persons.c.identity_sealed).where(ids)).scalars()) == {""}
        for table in (person_addresses, person_index):
            n = conn.execute(select(func.count()).where(table.c.person_id.in_(person_ids)))
            assert n.scalar_one() == 0, table.name
        mine = or_(events.c.case_id.in_(case_ids), events.c.person_id.in_(person_ids))
        for row in conn.execute(select(events).where(mine)):
            assert (
                row.patient_sealed,
                row.scene_sealed,
                row.referral_sealed,
                row.clinical_sealed,
                row.phone_token,
                row.scene_tokens,
            ) == (None,) * 6
        notes = select(attempts.c.notes_sealed).where(attempts.c.case_id.in_(case_ids))
        assert set(conn.execute(notes).scalars()) == {None}
        for row in conn.execute(select(case_contacts).where(case_contacts.c.case_id.in_(case_ids))):
            assert (row.contact_sealed, row.phone_token) == ("", None)
        for row in conn.execute(select(sms_texts).where(sms_texts.c.case_id.in_(case_ids))):
            assert (row.to_sealed, row.body) == ("", "") and row.phone_token.startswith(STAND_IN)
        for row in conn.execute(select(sms_replies).where(sms_replies.c.case_id.in_(case_ids))):
            assert row.body_sealed is None and row.phone_token.startswith(STAND_IN)
        consents = select(sms_consents.c.phone_token).where(
            or_(sms_consents.c.person_id.in_(person_ids), sms_consents.c.case_id.in_(case_ids))
        )
        assert all(t.startswith(STAND_IN) for t in conn.execute(consents).scalars())


def rows_of(store: Store, person_ids: list[str], case_ids: list[str]) -> dict[str, list[Any]]:
    """Every row of these persons and cases, as they are (for "untouched")."""
    out: dict[str, list[Any]] = {}
    with store.engine.connect() as conn:
        for table, where in (
            (persons, persons.c.id.in_(person_ids)),
            (person_addresses, person_addresses.c.person_id.in_(person_ids)),
            (person_index, person_index.c.person_id.in_(person_ids)),
            (events, or_(events.c.case_id.in_(case_ids), events.c.person_id.in_(person_ids))),
            (attempts, attempts.c.case_id.in_(case_ids)),
            (sms_texts, sms_texts.c.case_id.in_(case_ids)),
            (sms_consents, sms_consents.c.person_id.in_(person_ids)),
        ):
            out[table.name] = sorted(
                tuple(map(str, r)) for r in conn.execute(select(table).where(where))
            )
    return out


def report(store: Store, built: Built) -> dict[str, Any]:
    program = programs_kept(7).programs[0]
    start = (built.now - timedelta(days=810)).astimezone(program.zone).date()
    end = built.now.astimezone(program.zone).date()
    found = program_report(
        store, program, start, end, ReportBy.MONTH, clinical=True, share=False, now=built.now
    )
    return found.model_dump(mode="json", exclude={"generated_at"})


def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, years: int) -> None:
    programs = tmp_path / "programs.toml"
    programs.write_text(PROGRAM_TOML + f"\n[program.retention]\npersonal_data_years = {years}\n")
    monkeypatch.setenv("QRT_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("QRT_PROGRAMS_FILE", str(programs))


def audit_rows(store: Store, action: str) -> list[Any]:
    with store.engine.connect() as conn:
        query = select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id)
        return list(conn.execute(query))


def test_personal_data_goes_when_every_case_closed_long_enough_ago(
    store: Store, database_url: str, cipher: FieldCipher, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    built = build(store, cipher, tmp_path)
    old_cases = cases_of(store, built.old_persons) + built.nobody_cases
    recent_cases = cases_of(store, built.recent_persons)
    open_cases = cases_of(store, built.open_persons)
    old_values = personal_values(store, built.old_persons, old_cases) | rejection_originals(store)
    recent_values = personal_values(store, built.recent_persons, recent_cases)
    kept_values = personal_values(store, built.open_persons, open_cases)
    assert len(old_values) > 20 and len(recent_values) > 8, "the scenario holds personal data"
    before_report = report(store, built)
    assert before_report["overdoses"]["total"] >= 4, "the report counted the scenario"
    recent_rows, open_rows = (
        rows_of(store, built.recent_persons, recent_cases),
        rows_of(store, built.open_persons, open_cases),
    )

    one_year = run_retention(
        store, programs_kept(1).programs, built.now, dry_run=False, every_program=True
    )
    (purged,) = one_year.programs
    assert (purged.persons, purged.cases) == (len(built.old_persons), len(built.nobody_cases))
    assert purged.verdicts["open"] == len(built.open_persons)
    assert purged.verdicts["recent"] == len(built.recent_persons)
    assert_emptied(store, built.old_persons, old_cases)
    assert rows_of(store, built.recent_persons, recent_cases) == recent_rows, "closed lately"
    assert rows_of(store, built.open_persons, open_cases) == open_rows, "a case still open"
    assert one_year.audit_rows == 3, "the audit rows older than six years"

    cli_env(monkeypatch, tmp_path, database_url, years=0)
    capsys.readouterr()
    assert main(["retention", "run"]) == 0
    said = capsys.readouterr().out
    assert f"personal data of {len(built.recent_persons)} person(s) and 0 case(s)" in said
    assert_emptied(store, built.recent_persons, recent_cases)
    assert rows_of(store, built.open_persons, open_cases) == open_rows, "a case still open"

    values = set(text_values(store))
    left = (old_values | recent_values) - kept_values
    assert left & values == set(), "a sealed value or token of a purged person is left"
    assert kept_values <= values, "the person with an open case keeps every value"
    blob = "\n".join(values)
    assert [s for s in SECRETS if s in blob] == [], "nothing in the clear"
    assert "v1.test1." in blob, "sealed values are there (the scan looked at real data)"
    assert report(store, built) == before_report, "the report gives the same figures"
    if database_url.startswith("sqlite"):  # the file itself, as tests/.../test_no_plaintext.py
        store.dispose()  # checkpoints the WAL into the file
        path = Path(database_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert [v for v in left if v.encode() in raw] == [], "left in the SQLite file's bytes"
        assert [s for s in SECRETS if s.encode() in raw] == []

    purged_rows = audit_rows(store, "retention_purged")
    named = [i for r in purged_rows for i in json.loads(r.detail).get("persons", [])]
    assert sorted(named) == sorted(built.old_persons + built.recent_persons)
    assert all(s not in r.detail for r in purged_rows for s in SECRETS)
    with store.engine.connect() as conn:
        marked = conn.execute(select(retention_purges.c.subject_id)).scalars()
        assert set(marked) == set(built.old_persons + built.recent_persons + built.nobody_cases)

    assert main(["retention", "run"]) == 0
    again = capsys.readouterr().out
    assert "nothing new to remove" in again and "personal data of 0 person(s)" in again
    assert len(audit_rows(store, "retention_purged")) == len(purged_rows)


def snapshot(store: Store) -> dict[str, list[tuple[str, ...]]]:
    from services.store.tables import metadata

    with store.engine.connect() as conn:
        return {
            t.name: sorted(tuple(map(str, r)) for r in conn.execute(select(t)))
            for t in metadata.sorted_tables
        }


def test_a_dry_run_counts_what_would_go_and_changes_nothing(
    store: Store, database_url: str, cipher: FieldCipher, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    built = build(store, cipher, tmp_path)
    before = snapshot(store)
    cli_env(monkeypatch, tmp_path, database_url, years=0)
    capsys.readouterr()
    assert main(["retention", "run", "--dry-run", "--program", "example"]) == 0
    said = capsys.readouterr().out
    persons_n = len(built.old_persons) + len(built.recent_persons)
    assert f"program example: personal data of {persons_n} person(s) and 1 case(s)" in said
    assert "would be removed" in said and "dry run: nothing changed" in said
    assert "audit log" not in said, "one program: the audit log is not its own"
    assert snapshot(store) == before
    assert main(["retention", "run", "--program", "elsewhere"]) == 2
    assert "no program 'elsewhere'" in capsys.readouterr().err


def test_the_nightly_job_runs_from_three_in_the_morning_once_a_program_day(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    built = build(store, cipher, tmp_path)
    programs = programs_kept(1)
    zone = programs.programs[0].zone
    night = (built.now + timedelta(days=1)).astimezone(zone)
    night = night.replace(hour=2, minute=59, second=0, microsecond=0)
    assert nightly_retention(store, programs, night) == ["*"], "not yet 03:00 in New York"
    assert len(audit_rows(store, "audit_rows_removed")) == 1, "past 03:00 UTC: the audit log"
    assert audit_rows(store, "retention_run") == []
    at_three = night + timedelta(minutes=1)
    worker = bootstrap(Settings(), store=store, programs=programs, clock=lambda: at_three)
    timers.retention(worker)  # the timer worker's job, as its scheduler runs it
    assert nightly_retention(store, programs, at_three) == [], "it ran already"
    (run,) = audit_rows(store, "retention_run")
    assert json.loads(run.detail)["persons"] == len(built.old_persons)
    assert_emptied(store, built.old_persons, cases_of(store, built.old_persons))
    restarted = at_three + timedelta(hours=5)  # a restart, or another timer worker
    assert nightly_retention(store, programs, restarted) == []
    next_night = at_three + timedelta(days=1)
    assert nightly_retention(store, programs, next_night) == ["example", "*"]
    last = audit_rows(store, "retention_run")[-1]
    assert (json.loads(last.detail)["persons"], json.loads(last.detail)["cases"]) == (0, 0)
    assert len(audit_rows(store, "retention_run")) == 2


def test_a_failed_night_gives_its_claim_back(store: Store) -> None:
    from services.store import retention_records as records

    now = wall_clock.now()
    with store.transaction() as conn:
        assert records.claim_run(conn, "example", now.date(), now)
        assert not records.claim_run(conn, "example", now.date(), now)
        records.release_run(conn, "example", now.date())
        assert records.claim_run(conn, "example", now.date(), now), "claimed again"
        records.finish_run(conn, "example", now.date(), now)
        records.release_run(conn, "example", now.date())
        assert not records.claim_run(conn, "example", now.date(), now), "a finished run stays"


def _audit_at(store: Store, *times: Any) -> None:
    with store.transaction() as conn:
        for n, at in enumerate(times):
            audit(conn, at, "t", "probe", "test", str(n))


def _ids(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(audit_log.c.id).order_by(audit_log.c.id)).scalars())


def _granted(conn: Any, cutoff: Any, now: Any, *, setting: bool = True) -> None:
    conn.execute(retention_grants.insert().values(id=1, cutoff=cutoff, granted_at=now))
    if setting and conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL qrt.retention = 'on'"))


def test_the_audit_log_deletes_only_through_the_jobs_grant(store: Store) -> None:
    now = wall_clock.now()
    cutoff = now - timedelta(days=365 * 6 + 2)
    _audit_at(store, cutoff - timedelta(days=400), cutoff - timedelta(seconds=1), cutoff,
              now - timedelta(days=1))  # fmt: skip
    everything = _ids(store)
    refused = pytest.raises(DBAPIError, match="append-only")
    for statement in ("DELETE FROM audit_log WHERE id = :id", "DELETE FROM audit_log",
                      "UPDATE audit_log SET detail = '{}' WHERE id = :id"):  # fmt: skip
        with refused, store.engine.begin() as conn:
            conn.execute(text(statement), {"id": everything[0]})
    with refused, store.engine.begin() as conn:  # the grant, yet rows newer than its cutoff
        _granted(conn, cutoff, now)
        conn.execute(text("DELETE FROM audit_log"))
    with refused, store.engine.begin() as conn:  # nor may a granted transaction change a row
        _granted(conn, cutoff, now)
        conn.execute(text("UPDATE audit_log SET actor = 'x' WHERE id = :id"), {"id": everything[0]})
    if store.engine.dialect.name == "postgresql":
        with refused, store.engine.begin() as conn:  # a grant row alone is not enough there
            _granted(conn, cutoff, now, setting=False)
            conn.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": everything[0]})
        with refused, store.engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_log"))
    assert _ids(store) == everything, "nothing was removed"

    with pytest.raises(ValueError, match="at least 6 years"):
        trim_audit_log(store, now - timedelta(days=365 * 5), now, dry_run=False)
    assert trim_audit_log(store, cutoff, now, dry_run=True) == 2
    assert _ids(store) == everything, "a dry run removes nothing"
    assert trim_audit_log(store, cutoff, now, dry_run=False) == 2
    kept = _ids(store)
    assert kept[:2] == everything[2:], "the rows at and after the cutoff stay"
    (noted,) = audit_rows(store, "audit_rows_removed")
    assert json.loads(noted.detail) == {"cutoff": cutoff.isoformat(), "rows": 2}
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(retention_grants)).scalar_one() == 0
    with refused, store.engine.begin() as conn:  # and the path is closed again
        conn.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": kept[0]})
    assert trim_audit_log(store, cutoff, now, dry_run=False) == 0, "nothing twice"


def test_what_stays_of_a_purged_person_still_reads(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from schemas.accounts import Role
    from services.api.app import create_app
    from tests.support_accounts import bearer

    built = build(store, cipher, tmp_path)
    programs = programs_kept(1)
    run_retention(store, programs.programs, built.now, dry_run=False, every_program=True)
    settings = Settings()
    ctx = bootstrap(settings, store=store, programs=programs, cipher=cipher,
                    clock=lambda: built.now)  # fmt: skip
    client = TestClient(create_app(settings, ctx=ctx))
    headers = bearer(store, "coord", Role.COORDINATOR)
    (case_id, *_) = cases_of(store, built.old_persons)
    for path in (
        f"/api/v1/persons/{built.old_persons[0]}", f"/api/v1/cases/{case_id}",
        f"/api/v1/cases/{built.nobody_cases[0]}", f"/persons/{built.old_persons[0]}",
        f"/cases/{case_id}", "/api/v1/programs/example/export.csv",
    ):  # fmt: skip
        answer = client.get(path, headers=headers)
        assert answer.status_code == 200, (path, answer.text[:300])
        assert [s for s in SECRETS[:12] if s in answer.text] == [], path
    kept = client.get(f"/api/v1/persons/{built.open_persons[0]}", headers=headers)
    assert "Philippa" in kept.text, "a person not purged is shown as before"
    rejection = client.get(
        "/api/v1/rejections/1/original", headers=bearer(store, "adm", Role.ADMIN, "*")
    )
    assert rejection.status_code == 200 and rejection.content == b"", "its original is gone"

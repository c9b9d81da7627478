"""Retention where one person's data meets another's, on SQLite and PostgreSQL
(services/retention, services/store/retention_*.py):

- a report of person A in a case that went to person B when a review unlinked the
  case's other report: once that case is closed long enough ago, A's purge empties the
  report although B (with a case still open) keeps everything; while the case is open,
  A is kept too;
- a phone another person of the program still uses: the purged person's consents keep
  the token and the answer (the number's) and lose the person and case ids;
- SQLite: a checkpoint another connection's read holds up is tried again, then said
  (a warning, and in `qrt retention run`'s output); it succeeds once the read ends."""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from schemas.cases import VisitResult
from services.cases.reviews import link_review, open_reviews, unlink_person
from services.cases.visits import record_outcome
from services.cli import main
from services.crypto.fields import FieldCipher
from services.retention.job import run_retention, settle_file
from services.store.database import make_engine, migrate
from services.store.repository import Store
from services.store.tables import cases, events, person_index, persons, sms_consents
from tests import wall_clock
from tests.integration.engine_support import Scenario, overdose
from tests.integration.retention_support import programs_kept, text_values
from tests.integration.test_retention import cli_env, personal_values, rows_of

THADDEUS = {"first_name": "Thaddeus", "last_name": "Vormwald", "dob": "1984-09-21",
            "phone": "(304) 555-0174"}  # fmt: skip
CORISANDE = {
    "first_name": "Corisande",
    "last_name": "Albrechtsen",
    "dob": "1969-02-11",
    "phone": "(304) 555-0174",
}  # fmt: skip, the same phone as Thaddeus
SECOND_PHONE = {**THADDEUS, "phone": "(304) 555-0175"}  # the police report's, then B's
SECRETS = ["Thaddeus", "Vormwald", "1984-09-21", "3045550174", "3045550175", "Corisande",
           "Albrechtsen"]  # fmt: skip


def _scene(store: Store, cipher: FieldCipher) -> Scenario:
    scene = Scenario(store, cipher, wall_clock.now() - timedelta(days=800))
    scene.programs = programs_kept(1)
    return scene


def _close(scene: Scenario, case_id: str) -> None:
    record_outcome(
        scene.store, case_id, outcome=VisitResult.NOT_LOCATED, referral=None, actor="t",
        now=scene.now, tier_rules=scene.programs.programs[0].tiers,
    )  # fmt: skip


def _case_gone_to_another(scene: Scenario) -> tuple[str, str, str]:
    """Two reports of one person A, one case; the police one unlinked as its own person
    B, and the case goes with it: (A, B, the case), A's EMS report still in it."""
    ems = overdose(at=scene.now, patient=THADDEUS, consent={"sms": True})
    police = overdose(source="police", at=scene.now + timedelta(minutes=5), patient=SECOND_PHONE)
    scene.report(ems, police)
    with scene.store.engine.connect() as conn:
        (a, case_id) = conn.execute(
            select(events.c.person_id, events.c.case_id).where(events.c.source == "ems")
        ).one()
    scene.advance(days=1)
    program = scene.programs.programs[0]
    b = unlink_person(scene.store, scene.cipher, program, "police", "PD-1",
                      police.event.event_id, actor="t", now=scene.now)  # fmt: skip
    with scene.store.engine.connect() as conn:
        owner = conn.execute(select(cases.c.person_id).where(cases.c.id == case_id))
        assert owner.scalar_one() == b, "the case went to the unlinked person"
        mine = select(events.c.case_id).where(events.c.person_id == a)
        assert list(conn.execute(mine).scalars()) == [case_id], "A's report stays in it"
    return a, b, case_id


def _sealed_of(store: Store, person_id: str) -> set[str]:
    """The person's sealed identity and the sealed columns of their reports (each value
    sealed once: no one else holds it)."""
    e = events.c
    with store.engine.connect() as conn:
        found = {_identity(store, person_id)}
        for row in conn.execute(
            select(e.patient_sealed, e.scene_sealed, e.referral_sealed, e.clinical_sealed).where(
                e.person_id == person_id
            )
        ):
            found.update(v for v in row if v)
    return found - {""}


def _rows_but_of(store: Store, person: str, b: str, b_cases: list[str]) -> dict[str, Any]:
    """B's rows (rows_of), but for the reports of `person` in them."""
    rows = rows_of(store, [b], b_cases)
    rows["events"] = [r for r in rows["events"] if person not in r]
    return rows


def _identity(store: Store, person_id: str) -> str:
    with store.engine.connect() as conn:
        found = conn.execute(select(persons.c.identity_sealed).where(persons.c.id == person_id))
        return str(found.scalar_one())


def test_a_report_in_a_case_another_person_owns_now_goes_with_its_person(
    store: Store, cipher: FieldCipher
) -> None:
    scene = _scene(store, cipher)
    a, b, case_id = _case_gone_to_another(scene)
    scene.advance(days=1)
    _close(scene, case_id)
    scene.now = wall_clock.now() - timedelta(days=5)  # B again, lately: a case open
    scene.report(overdose(at=scene.now, patient=SECOND_PHONE))
    (review,) = open_reviews(store, "example")
    assert review.candidate_person_id == b
    link_review(store, review.id, actor="t", now=scene.now, program=scene.programs.programs[0])
    b_cases = [case_id, *(r.case_id for r in store.queue("example"))]
    assert len(b_cases) == 2
    a_sealed = _sealed_of(store, a)
    assert len(a_sealed) >= 3, "A's identity and report hold sealed values"
    b_values = _sealed_of(store, b) | personal_values(store, [], b_cases[1:])
    b_rows = _rows_but_of(store, a, b, b_cases)

    run = run_retention(store, scene.programs.programs, wall_clock.now(), dry_run=False,
                        every_program=False)  # fmt: skip
    (done,) = run.programs
    assert done.persons == 1 and done.verdicts["open"] == 1, "A purged, B kept"
    assert _identity(store, a) == ""
    with store.engine.connect() as conn:
        (report,) = conn.execute(select(events).where(events.c.person_id == a))
        assert report.case_id == case_id, "A's report, in B's case"
        personal = (report.patient_sealed, report.scene_sealed, report.referral_sealed,
                    report.clinical_sealed, report.phone_token, report.scene_tokens)  # fmt: skip
        assert personal == (None,) * 6, "emptied"
        index = select(person_index.c.token).where(person_index.c.person_id == a)
        assert list(conn.execute(index)) == []
    assert a_sealed & set(text_values(store)) == set(), "a sealed value of A is left"
    assert _rows_but_of(store, a, b, b_cases) == b_rows, "B, a case open, keeps everything"
    assert b_values <= set(text_values(store))


def test_while_that_case_is_open_its_reports_person_is_kept(
    store: Store, cipher: FieldCipher
) -> None:
    scene = _scene(store, cipher)
    a, b, case_id = _case_gone_to_another(scene)
    before = rows_of(store, [a, b], [case_id])
    run = run_retention(store, programs_kept(0).programs, wall_clock.now(), dry_run=False,
                        every_program=False)  # fmt: skip
    (done,) = run.programs
    assert (done.persons, done.verdicts["open"]) == (0, 2), "A's report is in an open case"
    assert _identity(store, a) != ""
    assert rows_of(store, [a, b], [case_id]) == before


def _consents(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        query = select(sms_consents).order_by(sms_consents.c.id)
        return [r._asdict() for r in conn.execute(query)]


def test_a_phone_another_person_still_uses_keeps_its_consent_but_not_the_person(
    store: Store, cipher: FieldCipher
) -> None:
    scene = _scene(store, cipher)
    scene.report(overdose(at=scene.now, patient=THADDEUS, consent={"sms": True}))
    (old_case,) = store.queue("example")
    scene.advance(days=2)
    _close(scene, old_case.case_id)
    scene.now = wall_clock.now() - timedelta(days=3)
    scene.report(overdose(at=scene.now, patient=CORISANDE, consent={"sms": True}))
    (open_case,) = store.queue("example")
    assert open_case.person_id != old_case.person_id, "two persons, one phone"
    before = _consents(store)
    theirs = [c for c in before if c["person_id"] == old_case.person_id]
    others = [c for c in before if c["person_id"] == open_case.person_id]
    assert (
        theirs
        and others
        and {c["phone_token"] for c in theirs + others} == {theirs[0]["phone_token"]}
    ), "one phone's token in both persons' consents"

    run = run_retention(store, scene.programs.programs, wall_clock.now(), dry_run=False,
                        every_program=False)  # fmt: skip
    (done,) = run.programs
    assert done.persons == 1 and done.removed["consent_owners"] == len(theirs)
    after = {c["id"]: c for c in _consents(store)}
    for row in theirs:
        kept = {**row, "person_id": None, "case_id": None}
        assert after[row["id"]] == kept, "the token and the answer stay, the person goes"
    assert [after[c["id"]] for c in others] == others, "the other person's are untouched"
    with store.engine.connect() as conn:
        tied = select(sms_consents.c.id).where(sms_consents.c.person_id == old_case.person_id)
        assert list(conn.execute(tied)) == []


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'qrt.sqlite3'}"
    engine = make_engine(url)
    migrate(engine)
    store = Store(engine)
    yield url, store
    store.dispose()


def _reader(url: str) -> sqlite3.Connection:
    """Another connection in the middle of a read (its snapshot held)."""
    reader = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM audit_log").fetchone()
    return reader


def test_a_checkpoint_held_up_by_a_read_is_tried_again_then_said(
    sqlite_store: tuple[str, Store], cipher: FieldCipher, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    url, store = sqlite_store
    scene = _scene(store, cipher)
    scene.report(overdose(at=scene.now, patient=THADDEUS, consent={"sms": True}))
    (old_case,) = store.queue("example")
    _close(scene, old_case.case_id)
    wal = Path(url.removeprefix("sqlite:///") + "-wal")
    reader = _reader(url)
    cli_env(monkeypatch, tmp_path, url, years=1)
    capsys.readouterr()
    with caplog.at_level(logging.WARNING, logger="services.retention.job"):
        assert main(["retention", "run"]) == 0
    said = capsys.readouterr().out
    assert "personal data of 1 person(s)" in said
    assert "warning: the SQLite write-ahead log is not emptied yet" in said
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned and all("write-ahead log" in m for m in warned)
    assert [s for s in SECRETS if any(s in m for m in warned)] == []
    assert wal.stat().st_size > 0, "the log still holds what the run wrote"

    assert settle_file(store) is False, "still held up"
    reader.execute("COMMIT")
    reader.close()
    assert settle_file(store) is True
    assert wal.stat().st_size == 0, "copied into the file and emptied"

"""Scheduling a batch of cases' texts at once (`schedule_cases_texts`, what the SMS
worker does) writes exactly what scheduling them one by one (`schedule_case_texts`)
writes: the same texts, consents and outbox records. The same history is built on two
stores of the same backend (SQLite, PostgreSQL); one is scheduled case by case, the
other in one batch, and the tables are compared, surrogate ids and ciphertexts aside."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from schemas.cases import Referral, VisitResult
from schemas.codec import decode
from schemas.intake import IntakeRecord
from schemas.sms import OutboundText, TextState
from services.cases.opening import case_id_for, open_cases
from services.cases.replanning import plan_program
from services.cases.visits import record_outcome
from services.crypto.fields import FieldCipher
from services.crypto.keys import development_keyring
from services.programs import Programs
from services.settings import Settings
from services.sms.texts import schedule_case_texts, schedule_cases_texts, to_aad
from services.store.database import make_engine, migrate
from services.store.repository import Store
from services.store.tables import sms_consents, sms_outbox, sms_texts
from services.topics import FOLLOWUP_CASES, SMS_OUTBOUND, ensure_topics
from tests import wall_clock
from tests.integration.engine_support import T0, overdose, programs
from tests.support import Worker, producer, read_topic, stack_env, wait_for
from tests.support_store import unpublished_case_events

HOME = {"zip": "25701", "city": "Huntington", "state": "WV"}
YES = {"sms": True, "visit": True}
UNKNOWN_CASE = "00000000-0000-0000-0000-000000000000"


@contextlib.contextmanager
def _second_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database beside `database_url`, on the same backend; dropped afterwards."""
    if make_url(database_url).get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'twin.sqlite3'}"
        return
    name = f"qrt_twin_{uuid.uuid4().hex[:10]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def twin_store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    """A second store on the backend of `store`."""
    with _second_database(database_url, tmp_path) as url:
        engine = make_engine(url)
        migrate(engine)
        twin = Store(engine)
        yield twin
        twin.dispose()


def person(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "first_name": f"Casey{chr(65 + n)}",
        "last_name": "Batchperson",
        "dob": f"19{70 + n}-03-0{1 + n % 9}",
        "phone": f"(304) 555-01{n:02d}",
        "address": HOME,
        **extra,
    }


class History:
    """The same events, outcomes and earlier scheduling, replayed on any store."""

    def __init__(self) -> None:
        self.programs: Programs = programs()
        two_days_early = T0 - timedelta(days=2)
        self.records: dict[str, IntakeRecord] = {
            "open": overdose(patient=person(1), consent=YES),
            "no_consent": overdose(patient=person(2), consent={"sms": False}),
            "no_phone": overdose(patient={**person(3), "phone": None}, consent=YES),
            "deceased": overdose(patient=person(4), consent=YES),
            "opted_out": overdose(patient=person(5), consent=YES),
            # another person on the opted-out client's phone: the revocation reaches them
            "same_phone": overdose(patient={**person(6), "phone": person(5)["phone"]}, consent=YES),
            # a third on that phone, first seen after the opt-out: never texted
            "after_opt_out": overdose(
                patient={**person(11), "phone": person(5)["phone"]}, consent=YES
            ),
            "treated": overdose(patient=person(7), consent=YES),
            "spanish": overdose(patient=person(8, language="spa"), consent=YES),
            "late": overdose(at=two_days_early, patient=person(9), consent=YES),
            "elsewhere": overdose(
                patient={**person(10), "address": None, "phone": "(907) 555-0110"}, consent=YES
            ),
        }
        self.ids = {name: case_id_for(r.event) for name, r in self.records.items()}
        self.now = T0 + timedelta(hours=2)

    def build(self, store: Store, cipher: FieldCipher) -> None:
        open_cases(store, list(self.records.values()), self.programs, T0, cipher)
        for name in ("open", "deceased", "opted_out", "treated"):  # an earlier batch
            schedule_case_texts(store, cipher, self.programs, self.ids[name], T0)
        program = self.programs.programs[0]
        plan_program(store, program, T0)  # some cases get a visit: a visit-day reminder
        later = T0 + timedelta(hours=1)
        for name, outcome, referral in (
            ("deceased", VisitResult.DECEASED, None),
            ("opted_out", VisitResult.OPTED_OUT, None),
            ("treated", VisitResult.CONTACTED_ACCEPTED_TREATMENT, Referral.MOUD),
        ):
            record_outcome(
                store,
                self.ids[name],
                outcome=outcome,
                referral=referral,
                actor="test",
                now=later,
                tier_rules=program.tiers,
            )

    def batch(self) -> list[str]:
        """Every kind of case, the same-phone one before and after the opt-out, one
        case twice in a row, and a case that does not exist."""
        names = ["same_phone", "open", "no_consent", "no_phone", "deceased", "opted_out", "?"]
        names += ["after_opt_out", "treated", "spanish", "spanish", "late", "elsewhere"]
        names += ["same_phone", "open"]
        return [self.ids.get(n, UNKNOWN_CASE) for n in names]


def texts_of(store: Store, cipher: FieldCipher) -> list[dict[str, Any]]:
    """Every text but its surrogate id; the sealed number opened (nonces differ)."""
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(sms_texts))]
    for row in rows:
        del row["id"]
        row["to"] = cipher.open(row.pop("to_sealed"), to_aad(row["idempotency_key"]))
    return sorted(rows, key=lambda r: r["idempotency_key"])


def records_of(store: Store) -> list[dict[str, Any]]:
    """Outbox records in the order written, each naming its text by key (not surrogate id)."""
    with store.engine.connect() as conn:
        keys = dict(conn.execute(select(sms_texts.c.id, sms_texts.c.idempotency_key)).all())
        rows = conn.execute(select(sms_outbox).order_by(sms_outbox.c.seq)).all()
    records = []
    for row in rows:
        payload = json.loads(row.payload)
        text_key = keys[payload.pop("text_id")]
        records.append({"topic": row.topic, "key": row.key, "text": text_key, **payload})
    return records


def by_text(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        grouped[record["text"]].append(record)
    return dict(grouped)


def consents_of(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(sms_consents).order_by(sms_consents.c.id)).all()
    return [{k: v for k, v in r._mapping.items() if k != "id"} for r in rows]


def test_a_batch_writes_exactly_what_case_by_case_scheduling_writes(
    store: Store, twin_store: Store, cipher: FieldCipher
) -> None:
    history = History()
    history.build(store, cipher)
    history.build(twin_store, cipher)
    assert texts_of(store, cipher) == texts_of(twin_store, cipher), "the same start"
    batch = history.batch()

    one_by_one = sum(
        schedule_case_texts(store, cipher, history.programs, case_id, history.now)
        for case_id in batch
    )
    at_once = schedule_cases_texts(twin_store, cipher, history.programs, batch, history.now)

    assert at_once == one_by_one
    texts = texts_of(twin_store, cipher)
    assert texts == texts_of(store, cipher)
    assert records_of(twin_store) == records_of(store)
    assert consents_of(twin_store) == consents_of(store)

    # The history did reach every path: otherwise the comparison proves little.
    ids = history.ids
    by_case: dict[str, dict[str, Any]] = defaultdict(dict)
    for row in texts:
        by_case[row["case_id"]][row["idempotency_key"].split(":", 1)[1]] = row
    assert at_once == len([r for r in texts if r["created_at"] == history.now]) > 0
    assert not by_case[ids["no_consent"]] and not by_case[ids["no_phone"]]
    assert not by_case[ids["after_opt_out"]], "the phone's consent was revoked in the batch"
    assert {r["state"] for r in by_case[ids["deceased"]].values()} == {TextState.CANCELLED}
    assert {r["reason"] for r in by_case[ids["deceased"]].values()} == {"case closed: deceased"}
    assert {r["reason"] for r in by_case[ids["opted_out"]].values()} == {
        "consent revoked (outcome)"
    }
    assert {r["reason"] for r in by_case[ids["same_phone"]].values()} == {
        "consent revoked (outcome)"
    }, "queued earlier in the same batch, cancelled by the opt-out that came after"
    treated = by_case[ids["treated"]]
    assert treated["check_in"]["reason"] == "no longer planned"
    assert {r["state"] for k, r in treated.items() if k != "check_in"} == {TextState.QUEUED}
    assert "check_in" not in by_case[ids["late"]], "a text a day overdue is not queued"
    assert {r["language"] for r in by_case[ids["spanish"]].values()} == {"spa"}
    assert {r["zone"] for r in by_case[ids["elsewhere"]].values()} == {"America/Anchorage"}
    reminders = [k for r in by_case.values() for k in r if k.startswith("visit_reminder")]
    assert reminders, "a planned visit gets a visit-day reminder"
    assert [c["source"] for c in consents_of(twin_store)].count("outcome") == 1
    assert_records_tell_the_rows(texts, by_text(records_of(twin_store)))


def assert_records_tell_the_rows(texts: list[dict[str, Any]], records: dict[str, Any]) -> None:
    """Each text was announced queued, with its times, then (if so) cancelled, with its reason."""
    assert set(records) == {row["idempotency_key"] for row in texts}
    for row in texts:
        told = records[row["idempotency_key"]]
        assert told[0]["state"] == TextState.QUEUED
        assert {r["kind"] for r in told} == {row["kind"]}
        assert {r["case_id"] for r in told} == {row["case_id"]}
        assert {r["key"] for r in told} == {row["program_id"]}
        assert datetime.fromisoformat(told[0]["due_at"]) == row["due_at"]
        assert datetime.fromisoformat(told[0]["send_after"]) == row["send_after"]
        if row["state"] == TextState.CANCELLED:
            assert [r["state"] for r in told] == [TextState.QUEUED, TextState.CANCELLED]
            assert told[-1]["reason"] == row["reason"]
        else:
            assert len(told) == 1


def test_a_redelivered_batch_changes_nothing_and_opens_no_sealed_record(
    store: Store, cipher: FieldCipher
) -> None:
    history = History()
    history.build(store, cipher)
    batch = history.batch()
    assert schedule_cases_texts(store, cipher, history.programs, batch, history.now) > 0
    before = (texts_of(store, cipher), records_of(store), consents_of(store))

    counting = CountingCipher(cipher)
    again = schedule_cases_texts(store, counting, history.programs, batch, history.now)

    assert again == 0
    assert (texts_of(store, cipher), records_of(store), consents_of(store)) == before
    visits = {
        row["case_id"]
        for row in before[0]
        if "visit_reminder" in row["idempotency_key"] and row["state"] == TextState.QUEUED
    }
    assert visits, "some cases have a planned visit"
    assert counting.opened == len(visits), (
        "only a case whose visit day depends on its client's zone opens a sealed record, once"
    )


def test_an_empty_or_unknown_batch_queues_nothing(store: Store, cipher: FieldCipher) -> None:
    history = History()
    assert schedule_cases_texts(store, cipher, history.programs, [], history.now) == 0
    assert schedule_cases_texts(store, cipher, history.programs, [UNKNOWN_CASE], T0) == 0
    assert texts_of(store, cipher) == [] and records_of(store) == []


@pytest.mark.time_of_day
def test_the_sms_worker_queues_the_texts_of_the_cases_a_batch_of_case_events_names(
    broker: str, topic_prefix: str, database_url: str, tmp_path: Path
) -> None:
    """The real worker process on the real broker and store: case events (one repeated,
    one that does not decode) in, each consenting case's texts queued once and
    announced on sms.outbound.v1; nothing personal in its log."""
    settings = Settings(topic_prefix=topic_prefix, data_dir=tmp_path)
    ensure_topics(settings, broker)
    engine = make_engine(database_url)
    migrate(engine)
    store = Store(engine)
    cipher = FieldCipher(development_keyring(tmp_path))  # the worker reads the same keys
    now = wall_clock.now().replace(microsecond=0)  # the worker's clock is the real one
    records = [overdose(at=now, patient=person(n), consent=YES) for n in (1, 2, 3)]
    records.append(overdose(at=now, patient=person(4), consent={"sms": False}))
    open_cases(store, records, programs(), now, cipher)
    texted = {case_id_for(r.event) for r in records[:3]}
    pending = unpublished_case_events(store)
    assert {case_id_for(r.event) for r in records} <= {p.event.case_id for p in pending}
    cases_topic = settings.topic(FOLLOWUP_CASES)
    out = producer(broker)
    for p in [*pending, pending[0]]:
        out.send(cases_topic, key=p.program_id.encode(), value=p.event.model_dump_json().encode())
    out.send(cases_topic, key=b"example", value=b'{"kind": "opened"}')
    out.flush()
    out.close()

    worker = Worker("sms", stack_env(tmp_path, broker, topic_prefix, database_url), tmp_path)
    try:
        worker.start()
        wait_for(lambda: len(texts_of(store, cipher)) >= 4 * len(texted), 60, "texts queued")
        records_out = read_topic(broker, settings.topic(SMS_OUTBOUND), 4 * len(texted))
    finally:
        worker.stop()
    texts = texts_of(store, cipher)
    assert len(texts) == 4 * len(texted), "each text once, a repeated event notwithstanding"
    assert {t["case_id"] for t in texts} == texted
    assert {t["state"] for t in texts} == {TextState.QUEUED}
    announced = [decode(OutboundText, m.value) for m in records_out]
    assert sorted(a.case_id or "" for a in announced) == sorted(t["case_id"] for t in texts)
    log = worker.log.read_text()
    assert "does not decode" in log, "the malformed event was logged and skipped"
    assert "Batchperson" not in log and "555-01" not in log and "55501" not in log
    store.dispose()


class CountingCipher(FieldCipher):
    """The real cipher, counting the sealed records it opens."""

    def __init__(self, inner: FieldCipher) -> None:
        self.__dict__.update(inner.__dict__)
        self.opened = 0

    def open(self, token: str, aad: str) -> str:
        self.opened += 1
        return super().open(token, aad)

"""Feed problems kept and shown: dead letters of overdose.rejected.v1 in the store.

- The store (SQLite and PostgreSQL): a letter delivered twice, or the same record
  rejected again, is kept once; an unreadable letter is kept with what is known; agency,
  source and program are traced from the original; the original is sealed (not in the
  SQLite file in the clear), opens only in its own row, and an admin's read is audited.
- The case worker on the real broker keeps the intake worker's dead letters, a
  duplicate once, garbage on the topic too.
- The API and the page cut by role: outreach, law enforcement and program managers
  403; a coordinator of another program sees nothing of this one; rejections traced
  to no program only to an admin of every program.
- `qrt rejections` as a table and as JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from schemas.accounts import ALL_PROGRAMS, Role
from schemas.codec import encode
from schemas.intake import FieldError, Origin, RejectReason
from services.api.app import create_app
from services.bootstrap import bootstrap
from services.cli import main
from services.crypto.fields import FieldCipher, SealedValueError
from services.ingest.dead_letter import dead_letter
from services.ingest.rejections import UNREADABLE, Letter
from services.programs import Programs, parse_programs
from services.settings import Settings
from services.store.database import make_engine, migrate
from services.store.rejection_records import keep_letters_or_refuse, read_original
from services.store.repository import Store
from services.store.tables import audit_log, rejections
from services.topics import ensure_topics
from tests import wall_clock
from tests.integration.test_openapi_fuzz import _fuzz as fuzz
from tests.integration.test_openapi_fuzz import _strategies as strategies
from tests.support import Worker, producer, stack_env, wait_for
from tests.support_accounts import bearer

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
PROGRAMS = parse_programs(
    """
[[program]]
id = "example"
name = "Example County Quick Response Team"
county_fips = ["54011"]
agency_ids = ["EX-EMS-01", "EX-PD-01"]

[[program]]
id = "north"
name = "North County Quick Response Team"
timezone = "America/Chicago"
county_fips = ["54099"]
agency_ids = ["NO-EMS-01"]
"""
)
SECRET_NAME = "Quentavious Zyndrell"
SECRET_PHONE = "+13045550187"
LETTERS = "overdose.rejected.v1"


def event(**changes: Any) -> bytes:
    data: dict[str, Any] = {
        "event_id": "e-1", "source": "ems", "agency_id": "EX-EMS-01",
        "occurred_at": "2026-11-22T08:30:00-05:00", "location": {"county_fips": "54011"},
        "patient": {"first_name": "Quentavious", "last_name": "Zyndrell", "phone": SECRET_PHONE},
    }  # fmt: skip
    data.update(changes)
    return json.dumps(data).encode()


def letter_value(
    raw: bytes, reason: RejectReason, *, topic: str = "overdose.ems.v1", offset: int = 7,
    at: datetime = NOW, errors: list[FieldError] | None = None,
) -> bytes:  # fmt: skip
    origin = Origin(topic=topic, partition=0, offset=offset)
    return encode(dead_letter(raw, origin, at, reason, f"{reason.value} at {offset}", errors))


def letter(value: bytes, offset: int = 0) -> Letter:
    return Letter(value=value, topic=LETTERS, partition=0, offset=offset)


def rows(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(rejections).order_by(rejections.c.id)))


def test_a_letter_is_kept_once_and_traced_to_its_agency_and_program(
    store: Store, cipher: FieldCipher
) -> None:
    invalid = letter_value(
        event(occurred_at=None), RejectReason.INVALID_EVENT,
        errors=[FieldError(field="occurred_at", message="Input should be a valid datetime",
                           type="datetime_type")],
    )  # fmt: skip
    again = letter_value(  # the intake worker screened the same record again after a crash
        event(occurred_at=None), RejectReason.INVALID_EVENT, at=NOW + timedelta(seconds=3)
    )
    county_only = letter_value(
        event(agency_id="NEW-EMS-09", location={"county_fips": "54099"}),
        RejectReason.FUTURE_TIME, offset=8,
    )  # fmt: skip
    refused = encode(
        dead_letter(
            json.dumps({"program_id": "north", "event": json.loads(event(agency_id="X-1")),
                        "origin": {"topic": "overdose.police.v1", "partition": 1, "offset": 3},
                        "received_at": NOW.isoformat()}).encode(),
            Origin(topic="followup.intake.v1", partition=2, offset=40), NOW,
            RejectReason.STORE_REFUSED, "the store refused this record",
        )
    )  # fmt: skip
    batch = [
        letter(invalid, 0), letter(invalid, 0), letter(again, 1), letter(county_only, 2),
        letter(refused, 3),
        letter(letter_value(b'{"event_id": ', RejectReason.MALFORMED_JSON, offset=9), 4),
        letter(letter_value(event(agency_id="ELSEWHERE", location={}), RejectReason.UNROUTABLE,
                            topic="overdose.police.v1", offset=10), 5),
        letter(b"\x00not a dead letter \x1b", 6),
    ]  # fmt: skip
    assert keep_letters_or_refuse(store, cipher, PROGRAMS, batch, NOW) == []
    assert keep_letters_or_refuse(store, cipher, PROGRAMS, batch[:2], NOW) == [], "redelivered"
    kept = rows(store)
    by_reason = {r.reason: r for r in kept}
    assert len(kept) == 6, [r.reason for r in kept]
    first = by_reason["invalid_event"]
    assert (first.agency_id, first.source, first.program_id) == ("EX-EMS-01", "ems", "example")
    assert (first.origin_topic, first.origin_partition, first.origin_offset) == (
        "overdose.ems.v1", 0, 7,
    )  # fmt: skip
    assert json.loads(first.field_errors)[0]["field"] == "occurred_at"
    assert first.rejected_at == NOW and first.original_size == len(event(occurred_at=None))
    assert by_reason["occurred_in_future"].program_id == "north", "by county"
    assert (by_reason["store_refused"].program_id, by_reason["store_refused"].agency_id) == (
        "north", "X-1",
    )  # fmt: skip
    assert by_reason["malformed_json"].program_id is None
    assert by_reason["malformed_json"].source == "ems", "from the topic"
    unroutable = by_reason["unroutable"]
    assert (unroutable.agency_id, unroutable.source, unroutable.program_id) == (
        "ELSEWHERE", "ems", None,
    )  # fmt: skip
    garbage = by_reason[UNREADABLE]
    assert garbage.origin_topic == LETTERS and garbage.origin_offset == 6
    assert "does not decode" in garbage.detail and garbage.original_size == 20
    assert read_original(store, cipher, garbage.id, "user:admin", NOW) == batch[-1].value


def test_the_original_is_sealed_to_its_row_and_each_read_audited(
    tmp_path: Path, cipher: FieldCipher
) -> None:
    path = tmp_path / "qrt.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    store = Store(engine)
    originals = [event(), event(event_id="e-2", fatal="sometimes")]
    letters = [
        letter(letter_value(raw, RejectReason.INVALID_EVENT, offset=n), n)
        for n, raw in enumerate(originals)
    ]
    assert keep_letters_or_refuse(store, cipher, PROGRAMS, letters, NOW) == []
    first, second = rows(store)
    assert read_original(store, cipher, first.id, "user:admin", NOW) == originals[0]
    with store.transaction() as conn:  # a sealed value moved to another row does not open
        conn.execute(
            update(rejections)
            .where(rejections.c.id == second.id)
            .values(original_sealed=first.original_sealed)
        )
    with pytest.raises(SealedValueError):
        read_original(store, cipher, second.id, "user:admin", NOW)
    with store.engine.connect() as conn:
        audited = conn.execute(
            select(audit_log.c.actor, audit_log.c.subject_id).where(
                audit_log.c.action == "rejection_original_read"
            )
        ).all()
    assert [tuple(a) for a in audited] == [("user:admin", str(first.id))]
    store.dispose()  # checkpoints the WAL into the file
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("qrt.sqlite3*"))
    for secret in (SECRET_NAME.split()[0], "Zyndrell", SECRET_PHONE, "3045550187"):
        assert secret.encode() not in raw, f"{secret} in the clear in the SQLite file"
    assert json.loads(letters[0].value)["original_b64"][:40].encode() not in raw
    assert b"v1.test1." in raw, "the sealed originals are there (the scan saw real data)"


@pytest.mark.broker
def test_the_case_worker_keeps_the_intake_workers_dead_letters_once(
    broker: str, topic_prefix: str, tmp_path: Path
) -> None:
    settings = Settings(topic_prefix=topic_prefix, data_dir=tmp_path)
    ensure_topics(settings, broker)
    engine = make_engine(settings.sqlalchemy_url)
    migrate(engine)
    engine.dispose()
    ctx = bootstrap(settings)
    env = stack_env(tmp_path, broker, topic_prefix, None)
    workers = [Worker(role, env, tmp_path).start() for role in ("intake", "cases")]
    try:
        send = producer(broker)
        send.send(settings.topic("overdose.ems.v1"), key=b"k", value=b'{"event_id": "m1", ')
        duplicate = letter_value(event(occurred_at=None), RejectReason.INVALID_EVENT)
        letters = settings.topic(LETTERS)
        for value in (duplicate, duplicate, b"garbage, not a letter"):
            send.send(letters, value=value, partition=0)
        last = letter_value(event(event_id="last"), RejectReason.FUTURE_TIME, offset=99)
        send.send(letters, value=last, partition=0)  # after the duplicate on its partition
        send.flush()
        send.close()

        def reasons() -> list[str]:
            return sorted(r.reason for r in rows(ctx.store))

        wait_for(lambda: len(reasons()) >= 4, 60, "the dead letters kept in the store")
        assert reasons() == [
            "invalid_event", "malformed_json", "occurred_in_future", UNREADABLE,
        ], "the duplicate once"  # fmt: skip
        malformed = next(r for r in rows(ctx.store) if r.reason == "malformed_json")
        assert malformed.origin_topic == settings.topic("overdose.ems.v1")
        assert malformed.source == "ems" and malformed.program_id is None
    finally:
        for worker in workers:
            worker.stop()
        ctx.store.dispose()


# --- the API and the page, cut by role ------------------------------------------------


@pytest.fixture
def seeded(store: Store, cipher: FieldCipher) -> Iterator[TestClient]:
    at = [NOW - timedelta(hours=h) for h in (1, 2, 3, 30)]
    values = [
        letter_value(event(), RejectReason.FUTURE_TIME, offset=1, at=at[0]),
        letter_value(event(fatal="x"), RejectReason.INVALID_EVENT, offset=2, at=at[1]),
        letter_value(event(agency_id="NO-EMS-01"), RejectReason.FUTURE_TIME, offset=3, at=at[1]),
        letter_value(b"{", RejectReason.MALFORMED_JSON, offset=4, at=at[2]),
        letter_value(event(fatal="y"), RejectReason.INVALID_EVENT, offset=5, at=at[3]),
    ]
    letters = [letter(v, n) for n, v in enumerate(values)]
    assert keep_letters_or_refuse(store, cipher, PROGRAMS, letters, NOW) == []
    settings = Settings()
    ctx = bootstrap(settings, store=store, cipher=cipher, clock=lambda: NOW, programs=PROGRAMS)
    with TestClient(create_app(settings, ctx=ctx)) as client:
        yield client


def test_only_coordinators_and_admins_see_rejections_of_their_programs(
    store: Store, seeded: TestClient
) -> None:
    client = seeded
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    north = bearer(store, "north_coord", Role.COORDINATOR, "north")
    admin = bearer(store, "root", Role.ADMIN, ALL_PROGRAMS)
    for role in (Role.OUTREACH, Role.LAW_ENFORCEMENT, Role.PROGRAM_MANAGER):
        headers = bearer(store, f"u_{role.value}", role)
        assert client.get("/api/v1/rejections", headers=headers).status_code == 403, role
        shown = client.get("/api/v1/rejections?program=example", headers=headers)
        assert shown.status_code == 403, role
        assert client.get("/programs/example/rejections", headers=headers).status_code == 403
    assert client.get("/api/v1/rejections").status_code == 401

    mine = client.get("/api/v1/rejections", headers=coordinator).json()
    assert [i["reason"] for i in mine["items"]] == ["occurred_in_future", "invalid_event"]
    assert {i["program_id"] for i in mine["items"]} == {"example"}
    assert "original_b64" not in str(mine) and "original_sealed" not in str(mine)
    assert mine["counts"] == [
        {"agency_id": "EX-EMS-01", "reason": "invalid_event",
         "reason_words": "Fields missing or invalid", "count": 1},
        {"agency_id": "EX-EMS-01", "reason": "occurred_in_future",
         "reason_words": "Overdose time in the future", "count": 1},
    ]  # fmt: skip
    empty = client.get("/api/v1/rejections?since=&program=&agency=", headers=coordinator)
    assert empty.json() == mine, "empty parameters: the defaults"
    week = client.get("/api/v1/rejections?since=7d", headers=coordinator).json()
    assert week["total"] == 3 and len(week["counts"]) == 2, "counts stay the last 24 h"
    one = client.get("/api/v1/rejections?since=7d&limit=1", headers=coordinator).json()
    assert one["total"] == 3 and len(one["items"]) == 1
    since = (NOW - timedelta(minutes=90)).isoformat()
    assert client.get(f"/api/v1/rejections?since={since}", headers=coordinator).json()[
        "total"
    ] == 1, "an ISO time whose + a URL turned into a space"  # fmt: skip
    assert client.get("/api/v1/rejections?since=soon", headers=coordinator).status_code == 422

    theirs = client.get("/api/v1/rejections", headers=north).json()
    assert [i["program_id"] for i in theirs["items"]] == ["north"]
    assert [c["agency_id"] for c in theirs["counts"]] == ["NO-EMS-01"]
    assert client.get("/api/v1/rejections?program=example", headers=north).status_code == 404
    assert client.get("/programs/example/rejections", headers=north).status_code == 404

    everything = client.get("/api/v1/rejections?since=7d", headers=admin).json()
    assert everything["total"] == 5
    assert None in {i["program_id"] for i in everything["items"]}, "unrouted: admins"
    agency = client.get("/api/v1/rejections?agency=NO-EMS-01", headers=admin).json()
    assert [i["agency_id"] for i in agency["items"]] == ["NO-EMS-01"]


def test_the_original_only_to_an_admin_and_audited(store: Store, seeded: TestClient) -> None:
    client = seeded
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    admin = bearer(store, "root", Role.ADMIN, ALL_PROGRAMS)
    rejection_id = client.get("/api/v1/rejections", headers=coordinator).json()["items"][0]["id"]
    path = f"/api/v1/rejections/{rejection_id}/original"
    assert client.get(path, headers=coordinator).status_code == 403
    answer = client.get(path, headers=admin)
    assert answer.status_code == 200 and answer.content == event()
    assert client.get("/api/v1/rejections/999999/original", headers=admin).status_code == 404
    with store.engine.connect() as conn:
        reads = conn.execute(
            select(func.count()).where(audit_log.c.action == "rejection_original_read")
        ).scalar_one()
    assert reads == 1


def test_the_page_lists_a_programs_rejections_in_words(store: Store, seeded: TestClient) -> None:
    client = seeded
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    admin = bearer(store, "root", Role.ADMIN, ALL_PROGRAMS)
    html = client.get("/programs/example/rejections", headers=coordinator).text
    assert "Feed problems" in html and "Fields missing or invalid" in html
    assert "Sun 22 Nov 08:00 EST" in html, "the time in the program's zone"
    assert 'href="/programs/example/rejections"' in html, "the header links to it"
    assert "Not valid JSON" not in html, "a rejection traced to no program: admins only"
    assert "Not valid JSON" in client.get("/programs/example/rejections", headers=admin).text
    week = client.get("/programs/example/rejections?since=7d", headers=coordinator).text
    assert week.count('class="rejection"') == 3


def test_generated_requests_never_get_a_server_error(store: Store, seeded: TestClient) -> None:
    """The two operations fuzzed from the OpenAPI document (test_openapi_fuzz.py's way),
    as a coordinator and as an admin; some requests aimed at real rejection ids."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", seeded.app)
    operations = [r.ok() for r in schema.get_all_operations() if "/rejections" in r.ok().path]
    assert sorted(o.path for o in operations) == [
        "/api/v1/rejections", "/api/v1/rejections/{rejection_id}/original",
    ]  # fmt: skip
    ids = [r.id for r in rows(store)]
    for headers in (
        bearer(store, "coord", Role.COORDINATOR),
        bearer(store, "root", Role.ADMIN, ALL_PROGRAMS),
    ):
        for operation in operations:
            fuzz(operation, strategies(operation, {"rejection_id": ids}), headers)


def test_qrt_rejections_prints_a_table_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QRT_DATA_DIR", str(tmp_path))
    assert main(["migrate"]) == 0
    ctx = bootstrap(Settings(data_dir=tmp_path))
    now = wall_clock.now()  # the CLI's own clock decides what the last 24 h are
    values = [
        letter_value(event(), RejectReason.INVALID_EVENT, offset=1, at=now - timedelta(hours=1)),
        letter_value(b"{", RejectReason.MALFORMED_JSON, offset=2, at=now - timedelta(days=3)),
    ]
    letters = [letter(v, n) for n, v in enumerate(values)]
    programs: Programs = ctx.programs
    assert keep_letters_or_refuse(ctx.store, ctx.cipher, programs, letters, now) == []
    capsys.readouterr()
    assert main(["rejections"]) == 0
    table = capsys.readouterr().out
    assert "1 record(s) refused in the last 24 h" in table
    assert "EX-EMS-01" in table and "Fields missing or invalid" in table
    assert "Not valid JSON" not in table, "older than --since"
    assert main(["rejections", "--since", "7d", "--format", "json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [i["reason"] for i in found["items"]] == ["invalid_event", "malformed_json"]
    assert main(["rejections", "--program", "example", "--since", "7d"]) == 0
    assert "Not valid JSON" not in capsys.readouterr().out, "traced to no program"
    assert main(["rejections", "--program", "nowhere"]) == 2
    assert main(["rejections", "--since", "yesterday"]) == 2
    assert "24h, 7d" in capsys.readouterr().err

"""Personal data at rest: the SQLite file and the PostgreSQL rows hold no name, phone or
DOB in the clear, in any table or index, after a realistic mix of events, visits,
reviews and links."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import String, Text, select

from schemas.cases import VisitResult
from services.cases.reviews import link_review, open_reviews
from services.cases.visits import VisitDetails, record_attempt
from services.crypto.fields import FieldCipher
from services.sms.inbound import handle_reply
from services.sms.texts import schedule_case_texts
from services.store.database import make_engine, migrate
from services.store.repository import Store
from services.store.tables import metadata, sms_texts
from tests.integration.engine_support import T0, Scenario, overdose
from tests.support_store import count_events

PEOPLE = [
    {"first_name": "Quentavious", "last_name": "Zyndrell", "dob": "1987-06-14",
     "phone": "(304) 555-0187", "address": {"address": "4419 Wexmoor Lane", "zip": "25701"}},
    {"first_name": "Marisol", "last_name": "Oyelaran-Whitcombe", "dob": "1993-11-02",
     "phone": "+1 304 555 0163"},
]  # fmt: skip
SECRETS = [
    "Quentavious", "quentavious", "Zyndrell", "zyndrell", "1987-06-14", "19870614",
    "3045550187", "555-0187", "Wexmoor", "wexmoor", "Marisol", "Oyelaran", "oyelaran",
    "1993-11-02", "3045550163", "Philomena", "Quarrington",
]  # fmt: skip


def _exercise(store: Store, cipher: FieldCipher) -> None:
    scene = Scenario(store, cipher)
    place = {"address": "4419 Wexmoor Lane", "zip": "25701", "county_fips": "54011"}
    scene.report(
        overdose(source="ems", patient=PEOPLE[0], location=place, consent={"sms": True}),
        overdose(source="police", at=T0 + timedelta(minutes=10), location=place),
        overdose(
            source="ems", at=T0 + timedelta(hours=1), patient=PEOPLE[1], consent={"sms": True}
        ),
    )
    scene.advance(days=5)
    variant = {**PEOPLE[1], "first_name": "Marisoll", "dob": "1993-02-11", "phone": None}
    scene.report(overdose(at=scene.now, patient=variant))
    for review in open_reviews(store, "example"):
        link_review(store, review.id, actor="t", now=scene.now, program=scene.programs.programs[0])
    for item in store.queue("example"):  # texts queued for every case: numbers sealed
        schedule_case_texts(store, cipher, scene.programs, item.case_id, scene.now)
    handle_reply(
        store, cipher, "SM" + "5" * 32, "+13045550187", "Quentavious here, call me", scene.now
    )
    case_id = store.queue("example")[0].case_id
    record_attempt(store, case_id, result=VisitResult.NOT_LOCATED, at=scene.now,
                   team_id="day", referral=None, actor="t", now=scene.now, cipher=cipher,
                   details=VisitDetails(notes="his aunt Philomena Quarrington answered"),
                   )  # fmt: skip


def test_sqlite_file_holds_no_plaintext(tmp_path: Path, cipher: FieldCipher) -> None:
    path = tmp_path / "qrt.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    store = Store(engine)
    _exercise(store, cipher)
    assert count_events(store) == 4
    with store.engine.connect() as conn:
        assert conn.execute(select(sms_texts.c.id)).first() is not None, "texts were queued"
    store.dispose()  # checkpoints the WAL into the file
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("qrt.sqlite3*"))
    found = [s for s in SECRETS if s.encode() in raw]
    assert found == [], f"plaintext personal data in the SQLite file: {found}"
    assert b"v1.test1." in raw, "sealed values are there (the scan looked at real data)"


def test_postgres_rows_hold_no_plaintext(postgres_url: str, cipher: FieldCipher) -> None:
    from tests.stack_fixtures import fresh_pg_schema

    fresh_pg_schema(postgres_url)
    engine = make_engine(postgres_url)
    migrate(engine)
    store = Store(engine)
    _exercise(store, cipher)
    texts: list[str] = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            for row in conn.execute(select(*columns)) if columns else []:
                texts.extend(str(v) for v in row if v is not None)
    blob = "\n".join(texts)
    assert "v1.test1." in blob, "sealed values are there (the scan looked at real data)"
    found = [s for s in SECRETS if s in blob]
    assert found == [], f"plaintext personal data in PostgreSQL rows: {found}"
    store.dispose()

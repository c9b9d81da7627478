"""A family referral at rest: the SQLite file and every PostgreSQL text column hold no
name, phone, place or note of it in the clear (the person's, the referrer's), after it
opened a case, was kept in the gateway's inbox, was read by the team and re-sealed under
a new key."""

from __future__ import annotations

import base64
from pathlib import Path

from sqlalchemy import String, Text, select

from schemas.accounts import Role
from services.accounts.roles import Principal
from services.cases.opening import open_cases
from services.crypto.fields import FieldCipher
from services.crypto.keys import keyring_from_text, new_key_text
from services.crypto.rotation import rotate
from services.ingest import inbox
from services.store.case_reads import case_detail
from services.store.database import make_engine, migrate
from services.store.repository import Store
from services.store.tables import events, metadata
from tests.integration.engine_support import T0, programs
from tests.integration.referral_support import MOTHER, ROWAN, referral

NOTES = "Zoltanek said he keeps it in the glovebox"
WHERE = "the Marrowbridge underpass"
COORDINATOR = Principal("u1", "coord", {"example": Role.COORDINATOR})
SECRETS = [
    "Rowan", "Quillfeather", "quillfeather", "1989-04-12", "3045550161", "555-0161",
    "Imelda", "3045550178", "555-0178", "Zoltanek", "glovebox", "Marrowbridge",
]  # fmt: skip


def _exercise(store: Store, cipher: FieldCipher) -> None:
    scene = programs()
    made = referral(
        scene, T0, kind="family", referrer=MOTHER, notes=NOTES, urgency="now",
        person={**ROWAN, "where": WHERE, "address": {"address": "7 Marrowbridge Rd"}},
    )  # fmt: skip
    assert made.referral is not None
    inbox.keep(store, cipher, [made.referral], T0)  # as the gateway keeps it (embedded default)
    assert open_cases(store, [made], scene, T0, cipher).opened == 1
    (item,) = store.queue("example")
    with store.transaction() as conn:
        detail = case_detail(conn, cipher, item.case_id, COORDINATOR, T0)
    assert detail is not None and detail.referrals[0].referrer_phone == MOTHER["phone"]


def _sealed_referral(store: Store) -> str:
    with store.engine.connect() as conn:
        return str(conn.execute(select(events.c.referral_sealed)).scalar_one())


def test_the_sqlite_file_holds_no_referral_in_the_clear(
    tmp_path: Path, cipher: FieldCipher
) -> None:
    path = tmp_path / "qrt.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    store = Store(engine)
    _exercise(store, cipher)
    assert _sealed_referral(store).startswith("v1.test1.")
    store.dispose()  # checkpoints the WAL into the file
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("qrt.sqlite3*"))
    found = [s for s in SECRETS if s.encode() in raw]
    assert found == [], f"plaintext of a referral in the SQLite file: {found}"
    assert b"v1.test1." in raw, "sealed values are there (the scan looked at real data)"


def test_postgres_columns_hold_no_referral_in_the_clear(
    postgres_url: str, cipher: FieldCipher
) -> None:
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
    assert found == [], f"plaintext of a referral in PostgreSQL rows: {found}"
    store.dispose()


def test_key_rotation_reseals_the_referral(tmp_path: Path) -> None:
    index, first, second = (
        base64.b64encode(b"i" * 32).decode(),
        new_key_text("old"),
        new_key_text("new"),
    )
    old = FieldCipher(keyring_from_text(first, index))
    renewed = FieldCipher(keyring_from_text(second + "," + first, index))
    engine = make_engine(f"sqlite:///{tmp_path / 'qrt.sqlite3'}")
    migrate(engine)
    store = Store(engine)
    _exercise(store, old)
    assert _sealed_referral(store).startswith("v1.old.")
    rotate(store, renewed, reindex=False, say=lambda _: None)
    assert _sealed_referral(store).startswith("v1.new.")
    only_new = FieldCipher(keyring_from_text(second, index))  # the old key dropped
    (item,) = store.queue("example")
    with store.transaction() as conn:
        detail = case_detail(conn, only_new, item.case_id, COORDINATOR, T0)
    assert detail is not None and detail.referrals[0].notes == NOTES
    store.dispose()

"""`qrt keys rotate`: everything re-sealed under the new key, indexes rebuilt, nothing lost."""

from __future__ import annotations

import base64

from sqlalchemy import select

from services.crypto.fields import FieldCipher
from services.crypto.keys import keyring_from_text, new_key_text
from services.crypto.rotation import rotate
from services.spikes.detection import record_batch
from services.spikes.reports import open_place
from services.store.repository import Store
from services.store.tables import events, person_addresses, persons, spike_reports
from tests.integration.engine_support import ALEX, Scenario, overdose
from tests.integration.spike_support import T0, spike_programs
from tests.integration.spike_support import report as spike_report

OLD_INDEX = base64.b64encode(b"o" * 32).decode()
NEW_INDEX = base64.b64encode(b"n" * 32).decode()


def _key_ids(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        sealed = [
            *conn.execute(select(persons.c.identity_sealed)).scalars(),
            *conn.execute(select(person_addresses.c.address_sealed)).scalars(),
            *conn.execute(select(events.c.patient_sealed)).scalars(),
            *conn.execute(select(events.c.scene_sealed)).scalars(),
            *conn.execute(select(spike_reports.c.place_sealed)).scalars(),
        ]
    return {FieldCipher.key_id_of(s) for s in sealed if s}


def test_rotation_reseals_and_reindexes(store: Store) -> None:
    old_key = new_key_text("old")
    old = FieldCipher(keyring_from_text(old_key, OLD_INDEX))
    with_address = {**ALEX, "address": {"address": "1 Main St", "zip": "25701"}}
    Scenario(store, old).report(overdose(patient=with_address))
    spike = spike_report(T0, lat=38.42, lon=-82.44)  # the spike worker's sealed place
    record_batch(store, old, [spike], spike_programs(), T0)
    assert _key_ids(store) == {"old"}

    both = FieldCipher(keyring_from_text(f"{new_key_text('new')},{old_key}", NEW_INDEX))
    said: list[str] = []
    report = rotate(store, both, reindex=True, say=said.append)
    # the identity, the address, the report's patient and its scene, the spike's place
    assert report.resealed == 5 and report.reindexed_persons == 1
    assert _key_ids(store) == {"new"}
    assert rotate(store, both, reindex=False, say=said.append).resealed == 0, "idempotent"

    new_only = f"new:{base64.b64encode(both.keyring.data_keys['new']).decode()}"
    with store.engine.connect() as conn:
        sealed, token = conn.execute(
            select(spike_reports.c.place_sealed, spike_reports.c.report_token)
        ).one()
    assert open_place(FieldCipher(keyring_from_text(new_only, NEW_INDEX)), sealed, token) == (
        38.42, -82.44,
    )  # fmt: skip
    scene = Scenario(store, FieldCipher(keyring_from_text(new_only, NEW_INDEX)))
    scene.advance(days=1)
    result = scene.report(overdose(at=scene.now, patient=ALEX))
    assert result.linked == 1, "found through the rebuilt index, opened with the new key only"
    with store.engine.connect() as conn:
        assert len(conn.execute(select(persons.c.id)).all()) == 1, "no second person"

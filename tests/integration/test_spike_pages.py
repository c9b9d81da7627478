"""Spike alerts through the API and the pages: every queue role reads them, only roles
that see persons get the map's points (a program manager does not); the program's
boundary drawn when given."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from schemas.accounts import Role
from services.spikes.detection import record_batch
from services.store.repository import Store
from tests.integration.spike_support import SPIKE_PROGRAM, T0, report, spike_programs
from tests.integration.test_queue_api import CIPHER, client_for
from tests.integration.test_web_pages import sign_in
from tests.support_accounts import bearer, make_user

RING = [[-82.50, 38.38], [-82.38, 38.38], [-82.38, 38.46], [-82.50, 38.46], [-82.50, 38.38]]
BOUNDARY = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [RING]}}


def programs_file(tmp_path: Path) -> Path:
    (tmp_path / "area.geojson").write_text(json.dumps(BOUNDARY))
    path = tmp_path / "programs.toml"
    path.write_text(SPIKE_PROGRAM + 'boundary_file = "area.geojson"\n'.join(["", ""]))
    text = SPIKE_PROGRAM.replace(
        "county_window_hours = 24\n", 'county_window_hours = 24\nboundary_file = "area.geojson"\n'
    )
    path.write_text(text)
    return path


def test_alerts_in_the_api_and_on_the_pages_with_the_map_for_roles_that_see_persons(
    store: Store, tmp_path: Path
) -> None:
    places = [(38.41, -82.44), (38.42, -82.43), (38.43, -82.45)]
    records = [report(T0 + timedelta(minutes=20 * i), lat=lat, lon=lon)
               for i, (lat, lon) in enumerate(places)]  # fmt: skip
    (raised,) = record_batch(store, CIPHER, records, spike_programs(), T0 + timedelta(hours=1))
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    officer = bearer(store, "officer", Role.LAW_ENFORCEMENT)
    make_user(store, "coord_page", Role.COORDINATOR)
    make_user(store, "manager_page", Role.PROGRAM_MANAGER)
    with client_for(store, programs_file=programs_file(tmp_path)) as client:
        for headers in (coordinator, officer):
            listed = client.get("/api/v1/programs/example/alerts", headers=headers)
            assert listed.status_code == 200
            assert [a["alert_id"] for a in listed.json()["alerts"]] == [raised.alert_id]
        one = client.get(f"/api/v1/programs/example/alerts/{raised.alert_id}", headers=officer)
        assert one.json()["count"] == 3 and "patient" not in one.text
        missing = "00000000-0000-4000-8000-000000000000"
        assert client.get(f"/api/v1/programs/example/alerts/{missing}",
                          headers=coordinator).status_code == 404  # fmt: skip
        assert client.get("/api/v1/programs/other/alerts", headers=coordinator).status_code == 404
        assert client.get("/api/v1/programs/example/alerts").status_code == 401

        assert sign_in(client, "coord_page").status_code == 303
        page = client.get(f"/programs/example/alerts/{raised.alert_id}").text
        assert len(re.findall(r'<circle [^>]*class="map-point', page)) == 3
        assert page.count("<polygon") == 1, "the program's boundary under the points"
        assert "Spiketest" not in page and "Robin" not in page
        queue = client.get("/programs/example/queue").text
        assert "3 overdoses in ZIP 25701" in queue, "the queue's banner, before any script"
        listing = client.get("/programs/example/alerts").text
        assert f"/programs/example/alerts/{raised.alert_id}" in listing

        client.cookies.clear()
        assert sign_in(client, "manager_page").status_code == 303
        page = client.get(f"/programs/example/alerts/{raised.alert_id}").text
        assert "map-point" not in page and 'id="no-map"' in page, "no places for this role"
        assert "3</dd>" in page or ">3<" in page

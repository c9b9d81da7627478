"""Staying engaged through the API and the pages, on a real store (SQLite and PostgreSQL):
who may set it (a member who records and sees clinical facts) and on which case (one
with a contact), the refusals, the tier and its rank (the program's `[program.queue]`),
the queue, the case, the person's page and the CSV, each cut by role, and the case
page's form that sets and ends it."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from schemas.accounts import Role
from services.cases.engagement_rules import EngagedSettings, QueueSettings
from services.store.repository import Store
from services.store.tables import audit_log
from tests.integration.engagement_support import (
    CHECKIN_AT,
    CONTACT_AT,
    Clock,
    api,
    case_row,
    contact,
    programs_with,
    seed,
)
from tests.integration.test_web_pages import csrf_of, sign_in, version_of
from tests.support_accounts import bearer, make_user

ENGAGE = {"next_checkin_at": CHECKIN_AT.isoformat()}
SHOWN_CHECKIN = CHECKIN_AT.isoformat().replace("+00:00", "Z")


def _engage(client: TestClient, case_id: str, headers: dict[str, str], **body: object) -> int:
    answer = client.put(f"/api/v1/cases/{case_id}/engagement", json=body or ENGAGE, headers=headers)
    return answer.status_code


def test_only_a_contacted_open_case_and_a_member_who_may_see_it(store: Store) -> None:
    case_id = seed(store)
    coord = bearer(store, "coord", Role.COORDINATOR)
    with api(store, Clock(CONTACT_AT)) as client:
        refused = client.put(f"/api/v1/cases/{case_id}/engagement", json=ENGAGE, headers=coord)
        assert refused.status_code == 409 and "no contact" in refused.json()["detail"]
        contact(store, case_id)
        assert _engage(client, case_id, bearer(store, "le", Role.LAW_ENFORCEMENT)) == 403
        assert _engage(client, case_id, bearer(store, "pm", Role.PROGRAM_MANAGER)) == 403
        assert _engage(client, case_id, bearer(store, "other", Role.COORDINATOR, "x")) == 404
        assert _engage(client, "no-such-case", coord) == 404
        assert _engage(client, case_id, coord, every_days=0) == 422
        assert _engage(client, case_id, coord, next_checkin_at="2026-12-03T10:00:00") == 422
        past = (CONTACT_AT - timedelta(hours=1)).isoformat()
        assert _engage(client, case_id, coord, next_checkin_at=past) == 422
        far = (CONTACT_AT + timedelta(days=400)).isoformat()
        assert _engage(client, case_id, coord, next_checkin_at=far) == 422
        assert client.put(
            f"/api/v1/cases/{case_id}/engagement", json={}, headers=coord
        ).status_code == 422  # fmt: skip
        stale = client.put(
            f"/api/v1/cases/{case_id}/engagement", json=ENGAGE,
            headers={**coord, "If-Match": '"1"'},
        )  # fmt: skip
        assert stale.status_code == 412
        version = case_row(store, case_id).version
        done = client.put(
            f"/api/v1/cases/{case_id}/engagement", json={**ENGAGE, "every_days": 21},
            headers={**coord, "If-Match": f'"{version}"'},
        )  # fmt: skip
        assert done.status_code == 200, done.text
        assert done.json() == {
            "case_id": case_id, "engaged": True, "next_checkin_at": SHOWN_CHECKIN,
            "every_days": 21, "version": version + 1,
        }  # fmt: skip
        assert done.headers["ETag"] == f'"{version + 1}"'
        client.post(f"/api/v1/cases/{case_id}/outcome", json={"outcome": "contacted_declined"},
                    headers=coord)  # fmt: skip
        assert _engage(client, case_id, coord) == 409  # closed
        ended = client.delete(f"/api/v1/cases/{case_id}/engagement", headers=coord)
        assert ended.status_code == 409
    with store.engine.connect() as conn:
        audited = conn.execute(
            select(audit_log.c.actor, audit_log.c.detail).where(
                audit_log.c.action == "engagement_set"
            )
        ).all()
    assert [a.actor for a in audited] == ["user:coord"] and '"every_days": 21' in audited[0].detail


def test_the_engaged_tier_below_the_others_and_each_role_sees_what_it_may(store: Store) -> None:
    engaged, fresh = seed(store, "e1"), seed(store, "e2", patient=None)
    contact(store, engaged)
    coord = bearer(store, "coord", Role.COORDINATOR)
    police = bearer(store, "officer", Role.LAW_ENFORCEMENT)
    with api(store, Clock(CONTACT_AT)) as client:
        assert _engage(client, engaged, coord) == 200
        queue = client.get("/api/v1/programs/example/queue", headers=coord).json()["items"]
        assert [(i["case_id"], i["tier"]) for i in queue] == [(fresh, "new"), (engaged, "engaged")]
        assert queue[1]["next_checkin_at"] == SHOWN_CHECKIN and queue[0]["next_checkin_at"] is None
        only = client.get("/api/v1/programs/example/queue?tier=engaged", headers=coord).json()
        assert [i["case_id"] for i in only["items"]] == [engaged]
        why = client.get("/api/v1/programs/example/queue?include=tier_reason", headers=coord)
        assert why.json()["items"][1]["tier_reason"] == "staying in touch: next check-in on 12/3"
        detail = client.get(f"/api/v1/cases/{engaged}", headers=coord).json()
        assert (detail["engaged"], detail["next_checkin_at"], detail["tier"]) == (
            True, SHOWN_CHECKIN, "engaged",
        )  # fmt: skip
        assert detail["engaged_at"] is not None and detail["window_opens_at"] == SHOWN_CHECKIN

        seen = client.get(f"/api/v1/cases/{engaged}", headers=police).json()
        assert (seen["engaged"], seen["engaged_at"], seen["next_checkin_at"]) == (False, None, None)
        assert seen["tier"] == "follow-up" and seen["window_opens_at"] == SHOWN_CHECKIN
        listed = client.get("/api/v1/programs/example/queue", headers=police).json()["items"]
        assert [i["next_checkin_at"] for i in listed] == [None, None]
        assert "engaged" not in str(listed)

        person = detail["person_id"]
        history = client.get(f"/api/v1/persons/{person}", headers=coord).json()
        assert history["cases"][0]["next_checkin_at"] == SHOWN_CHECKIN
        police_history = client.get(f"/api/v1/persons/{person}", headers=police).json()
        assert police_history["cases"][0]["next_checkin_at"] is None

        export = client.get("/api/v1/programs/example/export.csv", headers=coord).text
        rows = {r["case_id"]: r for r in csv.DictReader(io.StringIO(export.split("\n", 1)[1]))}
        assert (rows[engaged]["engaged"], rows[engaged]["next_checkin_at"]) == (
            "yes", CHECKIN_AT.isoformat(),
        )  # fmt: skip
        assert (rows[fresh]["engaged"], rows[fresh]["next_checkin_at"]) == ("no", "")

        ended = client.delete(f"/api/v1/cases/{engaged}/engagement", headers=coord)
        assert ended.status_code == 200 and ended.json()["engaged"] is False
        row = case_row(store, engaged)
        assert (row.status, row.tier, row.tier_rank) == ("open", "new", 0)
        assert row.next_checkin_at is None and row.engaged_at is None
        again = client.delete(f"/api/v1/cases/{engaged}/engagement", headers=coord)
        assert again.status_code == 200 and again.json()["version"] == row.version  # no change


def test_a_program_may_rank_engaged_clients_first(store: Store) -> None:
    soon = programs_with(
        queue=QueueSettings(engaged_rank=0), engaged=EngagedSettings(checkin_due_hours=12)
    )
    engaged, fresh = seed(store, "e1"), seed(store, "e2", patient=None)
    contact(store, engaged)
    coord = bearer(store, "coord", Role.COORDINATOR)
    checkin = {"next_checkin_at": (CONTACT_AT + timedelta(hours=1)).isoformat()}
    with api(store, Clock(CONTACT_AT), soon) as client:
        assert _engage(client, engaged, coord, **checkin) == 200
        assert case_row(store, engaged).tier_rank == 0
        queue = client.get("/api/v1/programs/example/queue", headers=coord).json()["items"]
        # the rank of new: the earliest due time first, the check-in's (24 Nov, 04:00 UTC)
        assert [i["case_id"] for i in queue] == [engaged, fresh]
        only = client.get("/api/v1/programs/example/queue?tier=engaged", headers=coord).json()
        assert [i["case_id"] for i in only["items"]] == [engaged]
        news = client.get("/api/v1/programs/example/queue?tier=new", headers=coord).json()
        assert [i["case_id"] for i in news["items"]] == [fresh]


def _page_client(store: Store, username: str, role: Role) -> TestClient:
    make_user(store, username, role)
    client = api(store, Clock(CONTACT_AT))
    assert sign_in(client, username).status_code == 303
    return client


def test_the_case_page_sets_changes_and_ends_the_engagement(store: Store) -> None:
    case_id = seed(store)
    coord = _page_client(store, "coord", Role.COORDINATOR)
    page = coord.get(f"/cases/{case_id}").text
    assert 'id="engagement-needs-contact"' in page and 'id="engagement-form"' not in page
    contact(store, case_id)
    page = coord.get(f"/cases/{case_id}").text
    assert 'id="engagement-form"' in page and "Keep in touch" in page
    form = {"csrf_token": csrf_of(page), "version": version_of(page)}
    refused = coord.post(f"/cases/{case_id}/engagement", data=form)
    assert "give the next check-in" in refused.text
    saved = coord.post(
        f"/cases/{case_id}/engagement",
        data={**form, "next_checkin": "2026-12-03T10:00", "every_days": "14"},  # New York
    )
    assert saved.status_code == 200
    assert "Staying in touch: the next check-in is Thu 03 Dec 10:00." in saved.text
    assert 'id="next-checkin">Thu 03 Dec 10:00<' in saved.text and "every 14 days" in saved.text
    assert case_row(store, case_id).next_checkin_at == CHECKIN_AT
    assert "staying in touch: next check-in on 12/3" in coord.get("/programs/example/queue").text
    person = case_row(store, case_id).person_id
    history = coord.get(f"/persons/{person}").text
    assert "Staying in touch: next check-in Thu 03 Dec 10:00" in history

    police = _page_client(store, "officer", Role.LAW_ENFORCEMENT)
    shown = police.get(f"/cases/{case_id}").text
    assert 'id="engagement"' not in shown and "Staying in touch" not in shown
    forged = police.post(
        f"/cases/{case_id}/engagement",
        data={"csrf_token": csrf_of(shown), "every_days": "7"},
        headers={"Accept": "text/html"},
    )
    assert forged.status_code == 403

    page = saved.text
    stale = coord.post(
        f"/cases/{case_id}/engagement", data={**form, "every_days": "7"}
    )  # the version sent before the change
    assert "changed since you read it" in stale.text
    ended = coord.post(
        f"/cases/{case_id}/engagement/end",
        data={"csrf_token": csrf_of(page), "version": version_of(page)},
    )
    assert "No more check-ins; the case stays open until an outcome." in ended.text
    assert 'id="next-checkin"' not in ended.text and "Keep in touch" in ended.text
    assert case_row(store, case_id).engaged_at is None

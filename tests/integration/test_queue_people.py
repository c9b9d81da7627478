"""Who, where and why on the queue (services/store/queue_people.py), on a real store
(SQLite and PostgreSQL): tier reasons from each person's history of closed cases, the
area from the scene or the latest residence, one audit row per read, the cut by role
through `redact`, the API's `include` parameter and the page's paging and counts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from schemas.accounts import Role
from schemas.cases import CaseStatus, QueueItem, QueuePage, Referral, Tier, VisitResult
from services.accounts.redaction import redact
from services.accounts.roles import Principal
from services.cases.opening import open_cases
from services.cases.visits import record_attempt, record_outcome
from services.programs import load_programs
from services.store.queue_people import AUDIT_ACTION
from services.store.repository import Store
from services.store.tables import audit_log, events
from tests.integration.test_case_store import CIPHER, record
from tests.integration.test_queue_api import NOW, client_for
from tests.integration.test_web_pages import sign_in
from tests.support_accounts import bearer, make_user

PROGRAMS = load_programs(None)
TIERS = PROGRAMS.get("example").tiers  # type: ignore[union-attr]
R = VisitResult
QUEUE = "/api/v1/programs/example/queue"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def person(first: str, last: str, dob: str, city: str | None = None, zip_: str | None = None
           ) -> dict[str, Any]:  # fmt: skip
    found: dict[str, Any] = {"first_name": first, "last_name": last, "dob": dob}
    if city or zip_:
        found["address"] = {"address": "9 Hidden Rd", "city": city, "zip": zip_, "state": "WV"}
    return found


def case_of(store: Store, event_id: str) -> str:
    with store.engine.connect() as conn:
        query = select(events.c.case_id).where(events.c.event_id == event_id)
        return str(conn.execute(query).scalar_one())


def followed_up(
    store: Store, event_id: str, patient: dict[str, Any], occurred: str,
    tries: list[tuple[VisitResult, str]], outcome: VisitResult, closed: str,
) -> str:  # fmt: skip
    """A past case of `patient`: opened, tried (result, time), closed with `outcome`."""
    open_cases(store, [record(event_id, patient=patient, occurred_at=occurred)], PROGRAMS,
               at(occurred) + timedelta(hours=1), CIPHER)  # fmt: skip
    case_id = case_of(store, event_id)
    for result, when in tries:
        referral = Referral.MOUD if result is R.CONTACTED_ACCEPTED_TREATMENT else None
        record_attempt(store, case_id, result=result, at=at(when), team_id=None,
                       referral=referral, actor="t", now=at(when))  # fmt: skip
    referral = Referral.MOUD if outcome is R.CONTACTED_ACCEPTED_TREATMENT else None
    record_outcome(store, case_id, outcome=outcome, referral=referral, actor="t",
                   now=at(closed), tier_rules=TIERS)  # fmt: skip
    return case_id


AVERY = person("Avery", "ashgrove", "1981-01-01", "Barboursville", "25504")
BLAIR = person("Blair", "Birchwood", "1982-02-02", "Barboursville", "25504")
CASEY = person("Casey", "Cedarholm", "1983-03-03")
DREW = person("Drew", "Dogwoodson", "1984-04-04")
EMERY = person("Emery", "Elmsworth", "1985-05-05")
FRANKIE = person("Frankie", "Firbank", "1986-06-06")
SCENE = {"address": "40 Quiet Lane", "city": "Huntington", "zip": "25701", "county_fips": "54011"}
# (event of the open case, its tier, its reason, its area)
EXPECTED = {
    "avery": (Tier.UNLOCATED, "not located on 11/20", "Huntington 25701"),  # the scene's
    "blair": (Tier.DEFERRED, "declined on 11/18, wants help later", "Barboursville 25504"),
    "casey": (Tier.NEW, "never contacted", None),
    "drew": (Tier.NEW, "never contacted (an earlier case closed without a visit)", None),
    "emery": (Tier.NEW, "accepted treatment on 11/12 (2 follow-ups in all)", None),
    "frankie": (Tier.UNLOCATED, "not located on 11/16", None),
    "nobody": (Tier.NEW, "never contacted", "Ona"),
}


def seed(store: Store) -> dict[str, str]:
    """Six people with their histories, and a report naming nobody; event -> open case.
    Also the closed cases "emery-2" and "avery-1"."""
    # 22:00 on 11/20 in New York is already 11/21 in UTC: the day is the program's
    followed_up(store, "avery-1", AVERY, "2026-11-19T10:00:00-05:00",
                [(R.NOT_LOCATED, "2026-11-21T03:00:00+00:00")], R.NOT_LOCATED,
                "2026-11-21T15:00:00+00:00")  # fmt: skip
    older_home = person("Blair", "Birchwood", "1982-02-02", "Milton", "25541")
    followed_up(store, "blair-1", older_home, "2026-11-15T10:00:00-05:00",
                [(R.CONTACTED_DECLINED_FUTURE_INTEREST, "2026-11-18T15:00:00+00:00")],
                R.CONTACTED_DECLINED_FUTURE_INTEREST, "2026-11-18T16:00:00+00:00")  # fmt: skip
    followed_up(store, "drew-1", DREW, "2026-11-14T10:00:00-05:00", [], R.OPTED_OUT,
                "2026-11-15T16:00:00+00:00")  # fmt: skip
    followed_up(store, "emery-1", EMERY, "2026-11-05T10:00:00-05:00",
                [(R.NOT_LOCATED, "2026-11-06T15:00:00+00:00")], R.NOT_LOCATED,
                "2026-11-06T16:00:00+00:00")  # fmt: skip
    followed_up(store, "emery-2", EMERY, "2026-11-10T10:00:00-05:00",
                [(R.CONTACTED_ACCEPTED_TREATMENT, "2026-11-12T15:00:00+00:00")],
                R.CONTACTED_ACCEPTED_TREATMENT, "2026-11-12T16:00:00+00:00")  # fmt: skip
    # the outcome's own result decides the day, not a later attempt of another result
    followed_up(store, "frankie-1", FRANKIE, "2026-11-15T10:00:00-05:00",
                [(R.NOT_LOCATED, "2026-11-16T15:00:00+00:00"),
                 (R.BAD_ADDRESS, "2026-11-17T15:00:00+00:00")], R.NOT_LOCATED,
                "2026-11-19T16:00:00+00:00")  # fmt: skip
    now_reports = [
        record("avery", patient=AVERY, location=SCENE),
        record("blair", patient=BLAIR),
        record("casey", patient=CASEY),
        record("drew", patient=DREW),
        record("emery", patient=EMERY),
        record("frankie", patient=FRANKIE),
        record("nobody", location={"city": "Ona", "county_fips": "54011"}),
    ]
    open_cases(store, now_reports, PROGRAMS, NOW, CIPHER)
    return {event_id: case_of(store, event_id) for event_id in EXPECTED}


def by_case(page: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["case_id"]: i for i in page["items"]}


def audit_rows(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return conn.execute(select(audit_log).where(audit_log.c.action == AUDIT_ACTION)).all()


def test_tier_reasons_names_and_areas_from_each_persons_history(store: Store) -> None:
    opened = seed(store)
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    with client_for(store) as client:
        plain = client.get(QUEUE, headers=coordinator)
        assert audit_rows(store) == []  # nothing asked, nothing opened, nothing audited
        full = client.get(QUEUE, params={"include": ["person", "tier_reason"]},
                          headers=coordinator)  # fmt: skip
    assert plain.status_code == full.status_code == 200
    assert all(i["name"] is i["area"] is i["tier_reason"] is None for i in plain.json()["items"])
    items = by_case(full.json())
    assert len(items) == len(EXPECTED)
    for event_id, (tier, reason, area) in EXPECTED.items():
        item = items[opened[event_id]]
        assert (item["tier"], item["tier_reason"], item["area"]) == (tier.value, reason, area), (
            event_id
        )
    names = {event_id: items[case]["name"] for event_id, case in opened.items()}
    assert names == {"avery": "Avery A.", "blair": "Blair B.", "casey": "Casey C.",
                     "drew": "Drew D.", "emery": "Emery E.", "frankie": "Frankie F.",
                     "nobody": None}  # fmt: skip
    (row,) = audit_rows(store)
    assert (row.actor, row.subject_type, row.subject_id) == ("user:coord", "program", "example")
    assert json.loads(row.detail) == {"cases": sorted(items), "person": True, "tier_reason": True}


def test_a_closed_case_has_the_reason_of_what_had_closed_before_it(store: Store) -> None:
    seed(store)
    coordinator = bearer(store, "coord", Role.COORDINATOR)
    with client_for(store) as client:
        answer = client.get(QUEUE, params={"status": "closed", "include": "tier_reason"},
                            headers=coordinator)  # fmt: skip
    assert answer.status_code == 200
    reasons = {i["case_id"]: i["tier_reason"] for i in answer.json()["items"]}
    assert reasons[case_of(store, "emery-2")] == "not located on 11/6"
    assert reasons[case_of(store, "avery-1")] == "never contacted"
    assert all(i["name"] is None for i in answer.json()["items"])  # not asked for
    (row,) = audit_rows(store)
    assert json.loads(row.detail)["person"] is False


def test_include_is_refused_to_a_role_that_may_not_see_it(store: Store) -> None:
    opened = seed(store)
    officer = bearer(store, "officer", Role.LAW_ENFORCEMENT)
    manager = bearer(store, "manager", Role.PROGRAM_MANAGER)
    with client_for(store) as client:
        police_people = client.get(QUEUE, params={"include": "person"}, headers=officer)
        police_reasons = client.get(QUEUE, params={"include": "tier_reason"}, headers=officer)
        managed_people = client.get(QUEUE, params={"include": "person"}, headers=manager)
        managed_reasons = client.get(QUEUE, params={"include": "tier_reason"}, headers=manager)
        unknown = client.get(QUEUE, params={"include": "phone"}, headers=manager)
    assert police_reasons.status_code == managed_people.status_code == 403
    assert "view clinical" in police_reasons.json()["detail"]
    assert unknown.status_code == 422
    officer_items = by_case(police_people.json())
    assert officer_items[opened["avery"]]["name"] == "Avery A."
    assert officer_items[opened["avery"]]["area"] == "Huntington 25701"
    assert {i["tier"] for i in officer_items.values()} == {"follow-up"}
    assert all(i["tier_reason"] is None for i in officer_items.values())
    manager_items = by_case(managed_reasons.json())
    assert manager_items[opened["blair"]]["tier_reason"] == EXPECTED["blair"][1]
    assert all(i["name"] is i["area"] is None for i in manager_items.values())
    assert [json.loads(r.detail)["person"] for r in audit_rows(store)] == [True, False]


def test_redact_cuts_names_areas_and_reasons_by_role() -> None:
    item = QueueItem(
        case_id="c1", program_id="example", tier=Tier.DEFERRED, status=CaseStatus.OPEN,
        occurred_at=NOW, window_opens_at=NOW, window_due_at=NOW, events=[],
        name="Blair B.", area="Milton 25541", tier_reason="declined on 11/18, wants help later",
    )  # fmt: skip
    seen = {}
    for role in Role:
        who = Principal(user_id="u", username="u", roles={"example": role})
        (cut,) = redact(QueuePage(total=1, items=[item]), who, "example").items
        seen[role] = (cut.tier, cut.name, cut.area, cut.tier_reason)
    everything = (Tier.DEFERRED, "Blair B.", "Milton 25541", "declined on 11/18, wants help later")
    assert seen[Role.ADMIN] == seen[Role.COORDINATOR] == seen[Role.OUTREACH] == everything
    assert seen[Role.LAW_ENFORCEMENT] == ("follow-up", "Blair B.", "Milton 25541", None)
    assert seen[Role.PROGRAM_MANAGER] == (Tier.DEFERRED, None, None, everything[3])


D = "\N{EN DASH}"  # as the page writes a range
RANGE = re.compile(r'<span id="range">([^<]+)</span> of <span id="total">(\d+)</span>')


def test_the_page_shows_counts_reasons_and_names_as_each_role_may_see(store: Store) -> None:
    opened = seed(store)
    pages = {}
    for role in (Role.COORDINATOR, Role.LAW_ENFORCEMENT, Role.PROGRAM_MANAGER):
        make_user(store, role.value, role)
        with client_for(store) as client:
            assert sign_in(client, role.value).status_code == 303
            pages[role] = client.get("/programs/example/queue").text
    coordinator = pages[Role.COORDINATOR]
    counts = re.findall(r'data-tier="(\w+)"><span class="badge tier-\w+">\w+</span> '
                        r'<span class="n">(\d+)</span>', coordinator)  # fmt: skip
    assert counts == [
        ("new", "4"), ("unlocated", "2"), ("deferred", "1"), ("engaged", "0"),
        ("family_support", "0"),
    ]  # fmt: skip
    assert ">Avery A.</a>" in coordinator and "not located on 11/20" in coordinator
    officer = pages[Role.LAW_ENFORCEMENT]
    assert ">Avery A.</a>" in officer and 'id="tier-counts"' not in officer
    assert "not located on" not in officer and "tier-unlocated" not in officer
    manager = pages[Role.PROGRAM_MANAGER]
    assert "Avery" not in manager and "Huntington 25701" not in manager
    assert "not located on 11/20" in manager and 'id="tier-counts"' in manager
    for text in pages.values():
        assert RANGE.search(text).groups() == (f"1{D}7", "7")  # type: ignore[union-attr]
        assert f'<a href="/cases/{opened["nobody"]}" class="case-link">' in text


def test_the_page_pages_through_the_queue_keeping_its_filters(store: Store) -> None:
    reports = [record(f"p{n:03d}", occurred_at=(NOW - timedelta(minutes=n)).isoformat())
               for n in range(120)]  # fmt: skip
    open_cases(store, reports, PROGRAMS, NOW, CIPHER)
    make_user(store, "coord", Role.COORDINATOR)
    seen: list[str] = []
    with client_for(store) as client:
        assert sign_in(client, "coord").status_code == 303
        path: str | None = "/programs/example/queue"
        ranges = []
        while path:
            text = client.get(path).text
            ranges.append(RANGE.search(text).groups())  # type: ignore[union-attr]
            seen += re.findall(r'data-case="([0-9a-f-]+)"', text)
            found = re.search(r'<a href="([^"]+)" rel="next"', text)
            path = found.group(1).replace("&amp;", "&") if found else None
        past_the_end = client.get("/programs/example/queue", params={"page": "9"}).text
        filtered = client.get("/programs/example/queue", params={"missed": "true"}).text
        mine = client.get("/programs/example/queue/rows",
                          params={"owner": "none", "page": "2"})  # fmt: skip
    assert ranges == [(f"1{D}50", "120"), (f"51{D}100", "120"), (f"101{D}120", "120")]
    assert len(seen) == len(set(seen)) == 120
    assert RANGE.search(past_the_end).groups() == (f"101{D}120", "120")  # type: ignore[union-attr]
    assert "No cases match." in filtered and "missed=true" in filtered  # the rows' address
    assert mine.headers["X-Total-Count"] == "120"
    assert 'href="/programs/example/queue?owner=none"' in mine.text  # previous: page 1
    assert 'href="/programs/example/queue?owner=none&amp;page=3"' in mine.text

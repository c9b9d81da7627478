"""The one cut (services/accounts/redaction.py) on each view, without a store: the
readers also leave out what a role may not see, so only here is `redact` alone tested."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.accounts import Role
from schemas.case_views import AttemptView, CaseDetail, ClinicalFacts, PersonView, ReportView
from schemas.cases import CaseStatus, EventRef, QueueItem, QueuePage, Referral, Tier
from services.accounts.redaction import ExportRow, redact
from services.accounts.roles import Principal

AT = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
REF = EventRef(source="ems", agency_id="A", event_id="e1", occurred_at=AT)


def who(role: Role) -> Principal:
    return Principal("u1", "someone", {"p1": role})


def detail() -> CaseDetail:
    return CaseDetail(
        case_id="c1", program_id="p1", version=1, status=CaseStatus.OPEN, tier=Tier.DEFERRED,
        occurred_at=AT, window_opens_at=AT, window_due_at=AT,
        outcome="contacted_accepted_treatment", referral=Referral.MOUD,
        person=PersonView(person_id="x", first_name="Dana"),
        reports=[ReportView(ref=REF, clinical=ClinicalFacts(suspected_substances=["fentanyl"]))],
        attempts=[AttemptView(attempt_no=1, at=AT, team_id=None,
                              result="contacted_declined_future_interest", recorded_by="t")],
    )  # fmt: skip


def test_law_enforcement_sees_the_person_but_nothing_clinical() -> None:
    shown = redact(detail(), who(Role.LAW_ENFORCEMENT), "p1")
    assert shown.tier == "follow-up" and shown.outcome == "contacted" and shown.referral is None
    assert [r.clinical for r in shown.reports] == [None]
    assert [a.result for a in shown.attempts] == ["contacted"]
    assert shown.person is not None and shown.person.first_name == "Dana"


def test_a_program_manager_sees_outcomes_but_not_the_person() -> None:
    shown = redact(detail(), who(Role.PROGRAM_MANAGER), "p1")
    assert shown.person is None
    assert shown.tier is Tier.DEFERRED and shown.referral is Referral.MOUD
    row = ExportRow(base=("c1", "open", "deferred"), person=("Dana",), clinical=("fentanyl",))
    assert redact(row, who(Role.PROGRAM_MANAGER), "p1") == ExportRow(
        base=("c1", "open", "deferred"), person=None, clinical=("fentanyl",)
    )


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.OUTREACH, Role.ADMIN])
def test_full_sight_changes_nothing(role: Role) -> None:
    view = detail()
    assert redact(view, who(role), "p1") is view


def test_a_queue_page_a_live_event_and_a_csv_row_lose_the_tier() -> None:
    item = QueueItem(case_id="c1", program_id="p1", tier=Tier.NEW, status=CaseStatus.OPEN,
                     occurred_at=AT, window_opens_at=AT, window_due_at=AT,
                     events=[REF])  # fmt: skip
    page = redact(QueuePage(items=[item], total=1), who(Role.LAW_ENFORCEMENT), "p1")
    assert [i.tier for i in page.items] == ["follow-up"]
    event = {"tier": "unlocated", "detail": {"previous": "new", "referral": "moud",
                                             "result": "contacted_accepted_treatment"}}  # fmt: skip
    assert redact(event, who(Role.LAW_ENFORCEMENT), "p1") == {
        "tier": "follow-up",
        "detail": {"result": "contacted"},
    }
    row = ExportRow(base=("c1", "open", "deferred", "x"), person=("Dana",), clinical=("f",))
    assert redact(row, who(Role.LAW_ENFORCEMENT), "p1") == ExportRow(
        base=("c1", "open", "follow-up", "x"), person=("Dana",), clinical=None
    )


def test_a_role_in_another_program_sees_nothing_of_this_one() -> None:
    other = Principal("u2", "elsewhere", {"p2": Role.COORDINATOR})
    shown = redact(detail(), other, "p1")
    assert shown.person is None and shown.tier == "follow-up"


def test_an_unknown_view_is_refused_not_passed_through() -> None:
    with pytest.raises(TypeError):
        redact(object(), who(Role.LAW_ENFORCEMENT), "p1")

"""Staying engaged, without a store: when the next check-in is (a date, a cadence, after a
contact), where the tier stands in a program's queue, the program's settings, the words of
the tier reason and the cut for a role without clinical sight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from schemas.accounts import Role
from schemas.case_views import CaseDetail
from schemas.cases import TIER_RANK, CaseEventKind, CaseStatus, EventRef, QueueItem, Tier
from schemas.engaged import EngagementSet
from services.accounts.redaction import redact
from services.accounts.roles import Principal
from services.cases.engagement_rules import (
    CheckinRefused,
    QueueSettings,
    engaged_reason,
    first_checkin,
    next_after_contact,
)
from services.programs import ProgramsFileError, parse_programs

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")
PROGRAM = """
[[program]]
id = "p1"
name = "A program"
"""


def test_the_next_check_in_is_the_date_given_else_the_cadence_from_now() -> None:
    date = NOW + timedelta(days=10)
    assert first_checkin(NOW, date, None) == date
    assert first_checkin(NOW, date, 14) == date  # the date first, then the cadence
    assert first_checkin(NOW, None, 14) == NOW + timedelta(days=14)


@pytest.mark.parametrize(
    ("when", "every", "says"),
    [
        (None, None, "give the next check-in"),
        (NOW, None, "later than now"),
        (NOW - timedelta(days=1), None, "later than now"),
        (NOW + timedelta(days=367), None, "within a year"),
        (None, 0, "from 1 to 365"),
        (None, 366, "from 1 to 365"),
        (datetime(2026, 12, 3, 10, 0), None, "UTC offset"),  # naive
    ],
)
def test_a_check_in_that_cannot_be_kept_is_refused(
    when: datetime | None, every: int | None, says: str
) -> None:
    with pytest.raises(CheckinRefused, match=says):
        first_checkin(NOW, when, every)


def test_a_contact_moves_the_check_in_by_the_cadence() -> None:
    assert next_after_contact(NOW, 14, NOW) == NOW + timedelta(days=14)
    late = NOW - timedelta(days=30)  # a contact recorded a month late: the next one ahead
    assert next_after_contact(late, 14, NOW) == late + timedelta(days=42)
    assert next_after_contact(late, 15, NOW) == late + timedelta(days=45)  # not now itself


def test_where_engaged_cases_stand_is_the_programs_choice() -> None:
    default = parse_programs(PROGRAM).programs[0]
    assert default.queue.rank(Tier.ENGAGED) == TIER_RANK[Tier.ENGAGED] == 3
    assert default.queue.rank(Tier.DEFERRED) == 2 and default.engaged.checkin_due_hours == 72
    assert default.engaged.checkin_due == timedelta(hours=72)
    moved = parse_programs(
        PROGRAM + "[program.queue]\nengaged_rank = 1\n[program.engaged]\ncheckin_due_hours = 48\n"
    ).programs[0]
    assert moved.queue == QueueSettings(engaged_rank=1) and moved.queue.rank(Tier.NEW) == 0
    assert moved.engaged.checkin_due == timedelta(hours=48)
    for wrong in ("[program.queue]\nengaged_rank = -1\n", "[program.queue]\nfamily = 1\n",
                  "[program.engaged]\ncheckin_due_hours = 0\n"):  # fmt: skip
        with pytest.raises(ProgramsFileError):
            parse_programs(PROGRAM + wrong)


def test_the_tier_reason_says_when_the_next_check_in_is() -> None:
    soon = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    assert engaged_reason(soon, NEW_YORK, NOW) == "staying in touch: next check-in on 12/3"
    next_year = datetime(2027, 1, 4, 3, 0, tzinfo=UTC)  # 3 January in New York
    assert engaged_reason(next_year, NEW_YORK, NOW) == (
        "staying in touch: next check-in on 1/3/2027"
    )


def test_the_api_body_needs_a_date_or_a_cadence() -> None:
    with pytest.raises(ValidationError, match="give next_checkin_at, every_days or both"):
        EngagementSet()
    with pytest.raises(ValidationError):
        EngagementSet(next_checkin_at=datetime(2026, 12, 3, 10, 0))  # naive
    assert EngagementSet(every_days=7).every_days == 7


def _detail() -> CaseDetail:
    at = NOW + timedelta(days=10)
    return CaseDetail(
        case_id="c1", program_id="p1", version=3, status=CaseStatus.OPEN, tier=Tier.ENGAGED,
        occurred_at=NOW, window_opens_at=at, window_due_at=at + timedelta(hours=72),
        reports=[], attempts=[], engaged=True, engaged_at=NOW, next_checkin_at=at,
        checkin_every_days=14, first_contact_at=NOW,
    )  # fmt: skip


def test_without_clinical_sight_nothing_of_the_engagement_but_the_window() -> None:
    police = Principal("u1", "officer", {"p1": Role.LAW_ENFORCEMENT})
    shown = redact(_detail(), police, "p1")
    assert (shown.engaged, shown.engaged_at, shown.next_checkin_at) == (False, None, None)
    assert shown.checkin_every_days is None and shown.tier == "follow-up"
    assert shown.window_opens_at == _detail().window_opens_at  # when to visit stays
    item = QueueItem(
        case_id="c1", program_id="p1", tier=Tier.ENGAGED, status=CaseStatus.OPEN,
        occurred_at=NOW, window_opens_at=NOW, window_due_at=NOW,
        events=[EventRef(source="ems", agency_id="A", event_id="e", occurred_at=NOW)],
        next_checkin_at=NOW + timedelta(days=10),
    )  # fmt: skip
    assert redact(item, police, "p1").next_checkin_at is None
    event = {"kind": CaseEventKind.ENGAGED.value, "tier": "engaged",
             "detail": {"next_checkin_at": "2026-12-03T15:00:00+00:00", "every_days": 14,
                        "previous": "deferred"}}  # fmt: skip
    cut = redact(event, police, "p1")
    assert cut["kind"] == "tier_changed" and cut["detail"] == {} and cut["tier"] == "follow-up"
    for role in (Role.COORDINATOR, Role.OUTREACH, Role.PROGRAM_MANAGER):
        seen = redact(_detail(), Principal("u2", "member", {"p1": role}), "p1")
        assert seen.engaged and seen.next_checkin_at == _detail().next_checkin_at

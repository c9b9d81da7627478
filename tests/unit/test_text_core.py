"""The text rules without a database: which texts a case should have
(services/core/texts.py) and whether a queued text may go now
(services/core/sending.py). tests/integration/test_sms_*.py check them through the
store and the sender."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.cases import MERGED_INTO, VisitResult
from services.core import sending, texts
from services.programs import Program
from services.sms.cadence import PlannedText, TextSettings
from services.sms.templates import MessageKind

NOW = datetime(2026, 7, 14, 16, 0, tzinfo=UTC)  # 12:00 in New York: inside sending hours
SETTINGS = TextSettings()
PROGRAM = Program(id="p1", name="P1")


def planned(key: str, hours_ago: float) -> PlannedText:
    return PlannedText(MessageKind.CHECK_IN, key, NOW - timedelta(hours=hours_ago))


@pytest.mark.parametrize(
    ("outcome", "consents", "expected"),
    [
        (MERGED_INTO, True, texts.Stop("case merged into another")),
        (VisitResult.OPTED_OUT.value, True, texts.Stop("case closed: opted_out", True)),
        (VisitResult.DECEASED.value, True, texts.Stop("case closed: deceased")),
        (VisitResult.CONTACTED_DECLINED.value, True, texts.Stop("case closed: contacted_declined")),
        (None, False, texts.Stop("no phone with consent")),
        (VisitResult.OPTED_OUT.value, False, texts.Stop("case closed: opted_out", True)),
        (None, True, None),
        (VisitResult.NOT_LOCATED.value, True, None),
    ],
)
def test_when_a_case_has_no_text_at_all(
    outcome: str | None, consents: bool, expected: texts.Stop | None
) -> None:
    assert texts.stop(SETTINGS, outcome, consents) == expected


def test_a_program_may_keep_texting_after_a_declined_visit() -> None:
    keep = TextSettings(stop_after_outcomes=[])
    assert texts.stop(keep, VisitResult.CONTACTED_DECLINED.value, True) is None


def test_only_timely_texts_not_yet_stored_are_queued() -> None:
    plan = [planned("check_in", 30), planned("day_3", 2), planned("day_7", -100)]
    stored = ["c1:day_3"]
    assert [p.key for p in texts.to_queue("c1", plan, stored, NOW)] == ["day_7"]
    assert [p.key for p in texts.to_queue("c1", plan, [], NOW)] == ["day_3", "day_7"]
    edge = [planned("check_in", 24)]
    assert [p.key for p in texts.to_queue("c1", edge, [], NOW)] == ["check_in"]


def test_a_queued_text_the_plan_dropped_is_cancelled_by_its_slot() -> None:
    plan = [planned("check_in", 1)]
    queued = {"c1:check_in": "c1:check_in", "c1:reminder": "c1:reminder",
              "c0:check_in": "c1:check_in"}  # fmt: skip
    assert texts.no_longer_planned("c1", plan, queued) == ["c1:reminder"]


def facts(**changes: object) -> sending.TextFacts:
    base: dict[str, object] = dict(
        program=PROGRAM, due_at=NOW - timedelta(hours=1), zone="America/New_York",
        state_code="NY", consent=True, died=False, phone_invalid=False, case_outcome=None,
    )  # fmt: skip
    return sending.TextFacts(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"program": None}, "texts are off for this program"),
        ({"program": Program(id="p2", name="P2", sms={"enabled": False})},
         "texts are off for this program"),
        ({"due_at": NOW - timedelta(hours=25)}, "more than 24 h late"),
        ({"consent": False}, "no consent"),
        ({"died": True}, "the person died"),
        ({"phone_invalid": True}, "phone marked invalid"),
        ({"case_outcome": MERGED_INTO}, "case merged into another"),
        ({"case_outcome": "deceased"}, "case closed: deceased"),
        ({"consent": False, "died": True}, "no consent"),
    ],
)  # fmt: skip
def test_a_text_that_must_never_go_is_cancelled_with_its_reason(
    changes: dict[str, object], reason: str
) -> None:
    assert sending.send_verdict(facts(**changes), NOW) == sending.Verdict(cancel=reason)


def test_a_wanted_text_goes_in_sending_hours_and_waits_outside_them() -> None:
    assert sending.send_verdict(facts(), NOW).go
    night = datetime(2026, 7, 14, 6, 0, tzinfo=UTC)  # 02:00 in New York
    verdict = sending.send_verdict(facts(due_at=night), night)
    assert verdict.cancel is None and verdict.later is not None and verdict.later > night
    assert verdict.later.astimezone(PROGRAM.zone).hour >= 8
    morning = datetime(2026, 7, 14, 14, 0, tzinfo=UTC)  # 10:00 in New York, 07:00 in LA
    assert sending.send_verdict(facts(due_at=morning), morning).go
    la = sending.send_verdict(facts(due_at=morning, zone="America/Los_Angeles"), morning)
    assert la.later == datetime(2026, 7, 14, 15, 0, tzinfo=UTC), "08:00 in Los Angeles"


def test_the_backoff_doubles_up_to_its_cap_and_honours_retry_after() -> None:
    assert sending.retry_delay_s(1, 5, 600, None, 0.5) == 5
    assert sending.retry_delay_s(3, 5, 600, None, 0.5) == 20
    assert sending.retry_delay_s(20, 5, 600, None, 0.5) == 600
    assert sending.retry_delay_s(1, 5, 600, 120, 0.0) == 120
    assert sending.retry_delay_s(2, 5, 600, None, 0.0) == 5  # jitter: half ...
    assert sending.retry_delay_s(2, 5, 600, None, 0.999) == pytest.approx(14.99)  # ... to 1.5x

"""`qrt publish` refuses a line exactly when the intake worker would dead-letter it: the
publisher's refusal is the worker's own screening of the same bytes on the same topic,
with the same programs, clock and rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from schemas.intake import Origin, RejectedEvent
from services.ingest.line_screening import Screening, refusal_of
from services.ingest.referral_screening import screen_referral
from services.ingest.screening import ScreeningRules, screen
from services.programs import load_programs

NOW = datetime(2026, 11, 22, 14, 30, tzinfo=UTC)
EMS, POLICE, REFERRALS = "p.overdose.ems.v1", "p.overdose.police.v1", "p.referral.v1"


def _line(**fields: object) -> bytes:
    event = {
        "event_id": "e-1", "source": "ems", "agency_id": "EX-EMS-01",
        "occurred_at": (NOW - timedelta(hours=2)).isoformat(),
        "patient": {"first_name": "Quillon", "phone": "+13045550142"},
    }  # fmt: skip
    return json.dumps({**event, **fields}).encode()


def _referral(**fields: object) -> bytes:
    referral = {
        "referral_id": "r-1", "source": "referral", "kind": "self", "program_id": "example",
        "referred_at": (NOW - timedelta(hours=1)).isoformat(), "person": {"phone": "+13045550177"},
    }  # fmt: skip
    return json.dumps({**referral, **fields}).encode()


CASES = [
    (_line(), EMS),
    (_line(occurred_at="2026-11-22T09:00:00"), EMS),  # naive
    (_line(agency_id="NOWHERE", location={}), EMS),  # no program
    (_line(occurred_at=(NOW + timedelta(hours=2)).isoformat()), EMS),  # future
    (_line(source="police", agency_id="EX-PD-01"), EMS),  # the wrong topic
    (_line(source="police", agency_id="EX-PD-01"), POLICE),
    (b'{"event_id": ', EMS),
    (_referral(), REFERRALS),
    (_referral(referred_at=(NOW + timedelta(hours=3)).isoformat()), REFERRALS),
    (_referral(person={}), REFERRALS),  # no way to reach the person
]


def test_a_line_is_refused_exactly_when_the_worker_would_refuse_it() -> None:
    programs = load_programs(None)
    rules = ScreeningRules(future_tolerance=timedelta(hours=1))
    screening = Screening(programs, lambda: NOW, rules, REFERRALS)
    refused = []
    for raw, topic in CASES:
        worker = (screen_referral if topic == REFERRALS else screen)(
            raw, Origin(topic=topic, partition=0, offset=7), programs=programs, now=NOW,
            rules=rules,
        )  # fmt: skip
        found = refusal_of(raw, topic, screening)
        if isinstance(worker, RejectedEvent):
            assert found is not None, raw
            assert (found.reason, found.detail) == (worker.reason.value, worker.detail)
            assert [f for f, _ in found.errors] == [e.field for e in worker.errors]
            refused.append(found.reason)
        else:
            assert found is None, (raw, found)
    assert refused == [
        "invalid_event", "unroutable", "occurred_in_future", "source_mismatch",
        "malformed_json", "occurred_in_future", "invalid_event",
    ]  # fmt: skip


def test_a_refusal_never_says_the_persons_values() -> None:
    screening = Screening(load_programs(None), lambda: NOW, ScreeningRules(), REFERRALS)
    for raw, topic in CASES:
        found = refusal_of(raw, topic, screening)
        if found is None:
            continue
        said = " ".join([found.detail, *(f"{f}: {m}" for f, m in found.errors)])
        for value in ("Quillon", "3045550142", "3045550177"):
            assert value not in said, said

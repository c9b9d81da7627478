"""The rows of bench_report.py: a year of a busy program, inserted in bulk (its docstring
says what). Sealed columns and tokens hold placeholders: the report never reads them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table

from schemas.cases import Referral, VisitResult
from services.store.tables import (
    attempts,
    cases,
    events,
    persons,
    rejections,
    sms_consents,
    sms_texts,
    treatment_referrals,
)

PROGRAM, OTHER = "example", "other"
YEAR_START = datetime(2026, 1, 1, 5, tzinfo=UTC)
HISTORY_START = datetime(2025, 1, 1, 5, tzinfo=UTC)
AGENCIES = {"ems": ["EX-EMS-01", "EX-EMS-02"], "police": ["EX-PD-01", "EX-SO-01"]}
TEAMS = ["day-east", "evening", "weekend"]
SERVICES = ["naloxone_kit", "fentanyl_test_strips", "harm_reduction_supplies", "treatment_info",
            "peer_support"]  # fmt: skip
NEEDS = ["transportation", "housing", "insurance", "childcare", "cost", "phone"]
CONTACTED = [VisitResult.CONTACTED_ACCEPTED_TREATMENT, VisitResult.CONTACTED_DECLINED,
             VisitResult.CONTACTED_DECLINED_FUTURE_INTEREST]  # fmt: skip
PROVIDERS = [("riverside-detox", "detox"), ("harbor-moud", "moud"),
             ("hillside-recovery", "residential")]  # fmt: skip
REFERRAL_KINDS = ["self", "family", "friend", "walk_in", "provider", "hospital", "court"]
CHUNK = 5000


@dataclass
class Rows:
    rng: random.Random
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    serial: int = 0

    def add(self, table: Table, row: dict[str, Any]) -> None:
        self.tables.setdefault(table.name, []).append(row)

    def next(self) -> int:
        self.serial += 1
        return self.serial


def load_year(engine: Engine, n: int, seed: int) -> dict[str, int]:
    rows = Rows(random.Random(seed))
    people = max(10, int(n * 0.6))
    for i in range(people + n // 20):
        rows.add(persons, {"id": f"p{i:08d}", "program_id": PROGRAM if i < people else OTHER,
                           "identity_sealed": "-", "created_at": HISTORY_START,
                           "updated_at": HISTORY_START})  # fmt: skip
    for i in range(n // 4):  # the year before: history of the same persons
        _case(
            rows,
            f"h{i:08d}",
            PROGRAM,
            _when(rows, HISTORY_START),
            f"p{rows.rng.randrange(people):08d}",
        )
    for i in range(n):
        _case(rows, f"c{i:08d}", PROGRAM, _when(rows, YEAR_START), _someone(rows, people))
    for i in range(n // 10):  # another program's cases: not in the report
        _case(rows, f"o{i:08d}", OTHER, _when(rows, YEAR_START), f"p{people + i % (n // 20):08d}")
    for _ in range(int(n * 0.06)):  # fatal reports (no case) and reports too old for one
        _report(rows, PROGRAM, _when(rows, YEAR_START), _someone(rows, people), None,
                fatal=True, handling="skipped_fatal")  # fmt: skip
    for _ in range(n // 100):
        _report(rows, PROGRAM, _when(rows, YEAR_START), _someone(rows, people), None,
                handling="too_old")  # fmt: skip
    for i in range(3000):
        _rejection(rows, i)
    order = [persons, cases, events, attempts, treatment_referrals, sms_texts, sms_consents,
             rejections]  # fmt: skip
    with engine.begin() as conn:
        for table in order:
            for chunk in _chunks(rows.tables.get(table.name, [])):
                conn.execute(table.insert(), chunk)
    return {name: len(found) for name, found in rows.tables.items()}


def _when(rows: Rows, start: datetime) -> datetime:
    return start + timedelta(seconds=rows.rng.randrange(365 * 86400))


def _someone(rows: Rows, people: int) -> str | None:
    return None if rows.rng.random() < 0.05 else f"p{rows.rng.randrange(people):08d}"


def _case(rows: Rows, case_id: str, program: str, at: datetime, person: str | None) -> None:
    rng = rows.rng
    draw = rng.random()
    kind = "overdose" if draw < 0.92 else "referral" if draw < 0.98 else "family_support"
    person = None if kind == "family_support" else person
    row: dict[str, Any] = {
        "id": case_id, "program_id": program, "status": "open", "tier": "new", "tier_rank": 0,
        "occurred_at": at, "window_opens_at": at + timedelta(hours=12),
        "window_due_at": at + timedelta(hours=72), "opened_at": at + timedelta(minutes=5),
        "updated_at": at, "person_id": person, "kind": kind,
        "referral_kind": rng.choice(REFERRAL_KINDS) if kind == "referral" else None,
        "first_attempt_at": None, "first_contact_at": None, "outcome": None,
        "referral": None, "closed_at": None,
    }  # fmt: skip
    if kind != "family_support":
        source = "referral" if kind == "referral" else rng.choice(["ems", "police"])
        _report(rows, program, at, person, case_id, source=source, handling="case_opened")
        if kind == "overdose" and rng.random() < 0.08:  # the other source, minutes later
            other = "police" if source == "ems" else "ems"
            _report(rows, program, at + timedelta(minutes=rng.uniform(5, 60)), person, case_id,
                    source=other, handling="case_linked")  # fmt: skip
        if kind == "overdose" and person and rng.random() < 0.04:  # a repeat overdose joined
            _report(rows, program, at + timedelta(days=rng.uniform(3, 20)), person, case_id,
                    handling="case_linked")  # fmt: skip
    if rng.random() < 0.85:
        _attempts(rows, row)
    rows.add(cases, row)


def _attempts(rows: Rows, case: dict[str, Any]) -> None:
    rng = rows.rng
    at = case["occurred_at"] + timedelta(hours=rng.uniform(2, 96))
    case["first_attempt_at"] = at
    contacted = rng.random() < 0.65
    tries = rng.randint(1, 3)
    for number in range(1, tries + 1):
        last = number == tries
        result = rng.choice(CONTACTED) if contacted and last else VisitResult.NOT_LOCATED
        referral = (
            rng.choice(list(Referral))
            if result is VisitResult.CONTACTED_ACCEPTED_TREATMENT
            else None
        )
        rows.add(attempts, {
            "case_id": case["id"], "attempt_no": number, "at": at, "team_id": rng.choice(TEAMS),
            "result": result.value, "referral": referral.value if referral else None,
            "recorded_at": at, "recorded_by": "bench", "method": "in_person",
            "services": _words(rng, SERVICES, 0.5), "needs": _words(rng, NEEDS, 0.3),
            "barriers": _words(rng, NEEDS, 0.2),
        })  # fmt: skip
        if contacted and last:
            case["first_contact_at"] = at
            if rng.random() < 0.8:
                case.update(status="closed", outcome=result.value, closed_at=at,
                            referral=referral.value if referral else None)  # fmt: skip
            if rng.random() < 0.1:
                _treatment(rows, case, at)
            if case["person_id"] and rng.random() < 0.6:
                _text(rows, case)
        at += timedelta(hours=rng.uniform(6, 48))
    if not contacted and rng.random() < 0.5:
        case.update(status="closed", outcome="not_located", closed_at=at)


def _treatment(rows: Rows, case: dict[str, Any], at: datetime) -> None:
    rng = rows.rng
    provider, kind = rng.choice(PROVIDERS)
    entered = at + timedelta(days=2) if rng.random() < 0.6 else None
    r30 = entered + timedelta(days=31) if entered and rng.random() < 0.6 else None
    r90 = r30 + timedelta(days=60) if r30 and rng.random() < 0.5 else None
    state = (
        "retained_90d" if r90 else "retained_30d" if r30 else "entered" if entered else "referred"
    )
    rows.add(treatment_referrals, {
        "id": f"t{rows.next():09d}", "case_id": case["id"], "program_id": case["program_id"],
        "provider_id": provider, "kind": kind, "state": state, "referred_at": at,
        "entered_at": entered, "retained_30d_at": r30, "retained_90d_at": r90,
        "ended_at": None, "updated_at": at, "updated_by": "bench",
    })  # fmt: skip


def _text(rows: Rows, case: dict[str, Any]) -> None:
    rng = rows.rng
    due = case["occurred_at"] + timedelta(hours=12)
    draw = rng.random()
    state = (
        "delivered"
        if draw < 0.7
        else "sent"
        if draw < 0.85
        else "failed"
        if draw < 0.95
        else "cancelled"
    )
    sent = due if state in ("delivered", "sent") else None
    final = due + timedelta(minutes=1) if state in ("delivered", "failed", "cancelled") else None
    number = rows.next()
    rows.add(sms_texts, {
        "idempotency_key": f"{case['id']}:check_in:{number}", "program_id": case["program_id"],
        "case_id": case["id"], "person_id": case["person_id"], "phone_token": f"tok{number}",
        "to_sealed": "-", "kind": "check_in", "language": "eng", "body": "-",
        "zone": "America/New_York", "state": state, "due_at": due, "send_after": due,
        "tries": 1, "sent_at": sent, "final_at": final,
        "twilio_status": state if sent else None, "created_at": due, "updated_at": due,
    })  # fmt: skip
    rows.add(sms_consents, {
        "program_id": case["program_id"], "phone_token": f"tok{number}",
        "person_id": case["person_id"], "granted": True, "source": "event",
        "case_id": case["id"], "at": case["opened_at"],
    })  # fmt: skip
    if rng.random() < 0.05:
        rows.add(sms_consents, {
            "program_id": case["program_id"], "phone_token": f"tok{number}",
            "person_id": case["person_id"], "granted": False, "source": "inbound_stop",
            "case_id": case["id"], "at": due + timedelta(hours=1),
        })  # fmt: skip


def _report(
    rows: Rows, program: str, at: datetime, person: str | None, case_id: str | None, *,
    source: str | None = None, fatal: bool = False, handling: str,
) -> None:  # fmt: skip
    source = source or rows.rng.choice(["ems", "police"])
    agency = "EX-REF" if source == "referral" else rows.rng.choice(AGENCIES[source])
    serial = rows.next()
    rows.add(events, {
        "program_id": program, "source": source, "agency_id": agency, "event_id": f"e{serial}",
        "incident_number": f"i{serial}", "occurred_at": at, "received_at": at,
        "recorded_at": at, "fatal": fatal, "handling": handling, "case_id": case_id,
        "origin_topic": "followup.intake.v1", "origin_partition": 0, "origin_offset": serial,
        "person_id": person,
    })  # fmt: skip


def _rejection(rows: Rows, i: int) -> None:
    at = _when(rows, YEAR_START)
    reason = rows.rng.choice(["invalid_event", "malformed_json", "occurred_in_future"])
    rows.add(rejections, {
        "letter_key": f"k{i:08d}", "reason": reason, "detail": "-", "field_errors": "[]",
        "agency_id": rows.rng.choice(AGENCIES["ems"] + AGENCIES["police"]), "source": "ems",
        "program_id": PROGRAM if i % 10 else None, "rejected_at": at, "stored_at": at,
        "original_size": 10, "original_sealed": "-",
    })  # fmt: skip


def _words(rng: random.Random, vocabulary: list[str], chance: float) -> str | None:
    if rng.random() >= chance:
        return None
    return " ".join(rng.sample(vocabulary, rng.randint(1, 3)))


def _chunks(items: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]

"""Referrals for the store tests: built as a sender writes them and screened exactly as
the intake worker screens them (services/ingest/referral_screening.py), so the case
engine gets what it gets in production."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from typing import Any

from schemas.intake import IntakeRecord, Origin
from services.ingest.referral_screening import screen_referral
from services.ingest.screening import ScreeningRules
from services.programs import Programs

_serial = itertools.count(1)
# Invented people and referrers; their words must never be found at rest in the clear.
ROWAN = {"first_name": "Rowan", "last_name": "Quillfeather", "dob": "1989-04-12",
         "phone": "+13045550161"}  # fmt: skip
MOTHER = {"name": "Imelda Quillfeather", "relation": "mother", "phone": "+13045550178"}


def referral(programs: Programs, now: datetime, **fields: Any) -> IntakeRecord:
    """A referral made 10 minutes before `now` (unless `referred_at` is given), routed."""
    n = next(_serial)
    data: dict[str, Any] = {
        "referral_id": f"ref-{n}",
        "program_id": programs.programs[0].id,
        "kind": "self",
        "referred_at": (now - timedelta(minutes=10)).isoformat(),
        "person": ROWAN,
        **fields,
    }
    raw = json.dumps(data).encode()
    origin = Origin(topic="referral.v1", partition=0, offset=n)
    found = screen_referral(raw, origin, programs=programs, now=now, rules=ScreeningRules())
    assert isinstance(found, IntakeRecord), found
    return found

"""Would the intake worker refuse this message? Asked before `qrt publish` sends a line.

The answer is the worker's own: `screen` (an overdose report) or `screen_referral` (on
the referral topic), chosen by the topic as the worker chooses, with the programs, the
clock and the rules the worker uses. A refusal keeps the reason, the detail and the field
errors, which never quote a value (field errors are made without the input, as the
rejections list shows them): no name or phone is said back.

Pure: no I/O; the clock is a parameter."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.intake import Origin, RejectedEvent
from services.clock import Clock
from services.ingest.referral_screening import screen_referral
from services.ingest.screening import ScreeningRules, screen
from services.programs import Programs


@dataclass(frozen=True)
class LineRefused:
    """A line the intake worker would refuse: its reason, detail and field errors."""

    line: int
    reason: str
    detail: str
    errors: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Screening:
    """What the intake worker screens with: the programs, its clock, its rules, and the
    (prefixed) topic whose messages are referrals."""

    programs: Programs
    clock: Clock
    rules: ScreeningRules
    referrals_topic: str
    all_or_nothing: bool = False


def refusal_of(raw: bytes, topic: str, screening: Screening, line: int = 0) -> LineRefused | None:
    """Why the intake worker would refuse this message on this topic (None: it takes it)."""
    screener = screen_referral if topic == screening.referrals_topic else screen
    result = screener(
        raw,
        Origin(topic=topic, partition=0, offset=0),
        programs=screening.programs,
        now=screening.clock(),
        rules=screening.rules,
    )
    if not isinstance(result, RejectedEvent):
        return None
    errors = tuple((e.field, e.message.removeprefix("Value error, ")) for e in result.errors)
    return LineRefused(line, result.reason.value, result.detail, errors)

"""Which texts a case should have, pure: given the program's text settings, the case's
outcome, whether any of its phones consents, what is planned for it
(services/sms/text_plans.py) and what is already stored, what to queue and what to
cancel. The store adapter (services/sms/texts.py `TextChanges`) reads what is known for
a batch of cases up front and writes these decisions.

Every queued text of a case is cancelled when the case was merged into another, when it
closed with an outcome that stops texts (opted out also revokes the phone's consent),
or when no phone of the case consents. Otherwise each planned text not yet stored and
not more than STALE_AFTER late is queued, and a queued text no longer planned is
cancelled ("no longer planned")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from schemas.cases import MERGED_INTO, VisitResult, visit_outcome
from services.core.sending import STALE_AFTER
from services.sms.cadence import PlannedText, TextSettings


@dataclass(frozen=True)
class Stop:
    """Cancel every queued text of the case, for this reason."""

    reason: str
    revoke_consent: bool = False  # closed as opted out: the phone's consent ends too


def stop(settings: TextSettings, outcome: str | None, any_phone_consents: bool) -> Stop | None:
    """Why the case must have no text at all, or None (module doc)."""
    if outcome == MERGED_INTO:
        return Stop("case merged into another")
    result = visit_outcome(outcome)
    if settings.stops_texts(result):
        return Stop(f"case closed: {result}", revoke_consent=result is VisitResult.OPTED_OUT)
    if not any_phone_consents:
        return Stop("no phone with consent")
    return None


def text_key(case_id: str, planned: PlannedText) -> str:
    """A text's idempotency key: the case and the plan's slot."""
    return f"{case_id}:{planned.key}"


def to_queue(
    case_id: str, planned: Sequence[PlannedText], stored: Iterable[str], now: datetime
) -> list[PlannedText]:
    """The planned texts not stored yet and still timely, in plan order."""
    have = set(stored)
    return [
        p for p in planned if now - p.due_at <= STALE_AFTER and text_key(case_id, p) not in have
    ]


def no_longer_planned(
    case_id: str, planned: Sequence[PlannedText], queued: Mapping[str, str]
) -> list[str]:
    """Of the case's queued texts ({idempotency key: the slot it fills}), the keys of
    those the plan no longer has."""
    wanted = {text_key(case_id, p) for p in planned}
    return [key for key, slot in queued.items() if slot not in wanted]

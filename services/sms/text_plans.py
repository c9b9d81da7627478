"""The texts a case should have, and the rows that queue them (pure: no I/O, the
time passed in). Used by services/sms/texts.py, which decides for whom and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from schemas.sms import TextState
from services.programs import Program
from services.sms.cadence import PlannedText, TextSettings, texts_for_case
from services.sms.recipient_time import RecipientZone, next_permitted, sending_hours
from services.sms.templates import MessageKind, Rendered, day_name, render


@dataclass(frozen=True)
class Recipient:
    phone: str
    token: str
    language: str | None
    zip_code: str | None


def planned_texts(
    settings: TextSettings, case: Any, closed: bool, zone: ZoneInfo
) -> list[PlannedText]:
    """The texts the case should have, in due order; a closed case keeps its follow-ups."""
    planned = texts_for_case(
        settings,
        occurred_at=case.occurred_at,
        window_opens_at=case.window_opens_at,
        planned_visit_from=None if closed else case.planned_visit_from,
        zone=zone,
    )
    return [p for p in planned if p.key.startswith("follow_up")] if closed else planned


def zone_decides_keys(settings: TextSettings, case: Any, closed: bool) -> bool:
    """Whether the recipient's zone changes which texts the case has: only a visit
    reminder's key (the local visit day) and due time depend on it."""
    return (
        settings.enabled
        and settings.visit_reminder
        and not closed
        and case.planned_visit_from is not None
    )


@lru_cache(maxsize=4096)
def rendered_text(
    kind: MessageKind,
    language: str | None,
    team_name: str,
    callback_number: str | None,
    visit_day: str | None,
) -> Rendered:
    """`render`, once per distinct text: the words are the same for every client of a
    program with the same language and visit day (and checking them is not free)."""
    return render(
        kind, language, team_name=team_name, callback_number=callback_number, visit_day=visit_day
    )


def text_row(
    program: Program,
    case: Any,
    recipient: Recipient,
    zone: RecipientZone,
    planned: PlannedText,
    *,
    key: str,
    to_sealed: str,
    now: datetime,
) -> dict[str, Any]:
    """The `sms_texts` row that queues the planned text (the number comes sealed)."""
    settings = program.sms
    visit_day = (
        day_name(planned.visit_day.date(), recipient.language)
        if planned.visit_day is not None
        else None
    )
    text = rendered_text(
        planned.kind, recipient.language, settings.team_name, settings.callback_number, visit_day
    )
    return {
        "idempotency_key": key,
        "program_id": program.id,
        "case_id": case.id,
        "person_id": case.person_id,
        "phone_token": recipient.token,
        "to_sealed": to_sealed,
        "kind": planned.kind.value,
        "language": text.language,
        "body": text.text,
        "zone": zone.zone.key,
        "state_code": zone.state,
        "state": TextState.QUEUED.value,
        "due_at": planned.due_at,
        "send_after": next_permitted(
            max(planned.due_at, now), zone.zone, sending_hours(zone.state)
        ),
        "tries": 0,
        "created_at": now,
        "updated_at": now,
    }

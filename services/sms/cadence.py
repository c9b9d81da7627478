"""When a case's client gets a text (pure: no I/O, the clock passed in).

A check-in at the first permitted time after the visit window opens, a
reminder on the day of a planned visit, and follow-ups on days 3, 7 and 30
after the overdose (program settings, `[program.sms]`). Quiet hours are applied
later, per recipient, when a text is queued and again when it is sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Annotated, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.cases import VisitResult
from services.sms.templates import MessageKind

FOLLOW_UP_KINDS = {
    3: MessageKind.FOLLOW_UP_DAY_3,
    7: MessageKind.FOLLOW_UP_DAY_7,
    30: MessageKind.FOLLOW_UP_DAY_30,
}


class TextSettings(BaseModel):
    """`[program.sms]`: what a program's clients are sent, and when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    team_name: Annotated[str, Field(min_length=2, max_length=40)] = "Community Support Team"
    callback_number: str | None = None
    check_in: bool = True
    visit_reminder: bool = True
    follow_up_days: list[int] = Field(default_factory=lambda: [3, 7, 30])
    # Outcomes after which a client gets no more texts. Death and opt-out always stop them.
    stop_after_outcomes: list[VisitResult] = Field(
        default_factory=lambda: [
            VisitResult.CONTACTED_DECLINED,
            VisitResult.HOSPITALIZED_OR_IN_CUSTODY,
        ]
    )

    @model_validator(mode="after")
    def _known_days(self) -> Self:
        unknown = sorted(set(self.follow_up_days) - FOLLOW_UP_KINDS.keys())
        if unknown:
            raise ValueError(
                f"follow_up_days {unknown} have no template; choose from {sorted(FOLLOW_UP_KINDS)}"
            )
        return self

    def stops_texts(self, outcome: VisitResult | None) -> bool:
        return outcome is not None and (
            outcome in (VisitResult.DECEASED, VisitResult.OPTED_OUT)
            or outcome in self.stop_after_outcomes
        )


@dataclass(frozen=True)
class PlannedText:
    kind: MessageKind
    key: str  # unique per case: the idempotency key is case id + key
    due_at: datetime
    visit_day: datetime | None = None  # local midnight of the visit day, for the reminder


def texts_for_case(
    settings: TextSettings,
    *,
    occurred_at: datetime,
    window_opens_at: datetime,
    planned_visit_from: datetime | None,
    zone: ZoneInfo,
) -> list[PlannedText]:
    """Every text the case should get, in due order. Times are aware (UTC)."""
    if not settings.enabled:
        return []
    out: list[PlannedText] = []
    if settings.check_in:
        out.append(PlannedText(MessageKind.CHECK_IN, "check_in", window_opens_at))
    if settings.visit_reminder and planned_visit_from is not None:
        local_day = planned_visit_from.astimezone(zone).date()
        midnight = datetime.combine(local_day, time(0), tzinfo=zone)
        due = max(midnight, window_opens_at)
        if due < planned_visit_from:
            out.append(
                PlannedText(
                    MessageKind.VISIT_REMINDER,
                    f"visit_reminder:{local_day.isoformat()}",
                    due,
                    visit_day=midnight,
                )
            )
    for days in sorted(set(settings.follow_up_days)):
        out.append(
            PlannedText(
                FOLLOW_UP_KINDS[days], f"follow_up_day_{days}", occurred_at + timedelta(days=days)
            )
        )
    return sorted(out, key=lambda t: (t.due_at, t.key))

"""The visit window: when a QRT visit may start and when it is due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from services.programs import VisitWindow


@dataclass(frozen=True)
class Window:
    opens_at: datetime
    due_at: datetime


def visit_window(occurred_at: datetime, rule: VisitWindow) -> Window:
    """`occurred_at` + [opens_after, due_after], in UTC."""
    start = occurred_at.astimezone(UTC)
    return Window(opens_at=start + rule.opens_after, due_at=start + rule.due_after)

"""`[program.family_support]`: the follow-up of a family after a death (pure: no I/O).

A death of a person the program knows (a fatal report linked to them, a possible death
confirmed, an outcome `deceased`) opens one `family_support` case for the contacts known
from the person's earlier cases (services/cases/family_support.py). Its window is counted
from the death: it opens `opens_after_days` after it (default 7) and is due
`due_after_days` after it (default 30). A death learned of after that window closed
opens no case (as an overdose report older than `max_event_age_days` opens none).

Its tier is `family_support`, ranked below every survivor's case (`new`, `unlocated`,
`deferred`, and the engaged ones) unless `rank_with_survivors = true`, which ranks it
with them (earliest due first). `referral` is the referral suggested to the team
(default `grief_resources`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.cases import TIER_RANK, Referral, Tier


class FamilySupportSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    opens_after_days: Annotated[float, Field(ge=0, le=365)] = 7
    due_after_days: Annotated[float, Field(gt=0, le=366)] = 30
    rank_with_survivors: bool = False
    referral: Referral = Referral.GRIEF_RESOURCES

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.due_after_days <= self.opens_after_days:
            raise ValueError("due_after_days must be later than opens_after_days")
        return self

    @property
    def tier_rank(self) -> int:
        """Where a family-support case stands in the queue's order (TIER_RANK)."""
        return TIER_RANK[Tier.NEW] if self.rank_with_survivors else TIER_RANK[Tier.FAMILY_SUPPORT]

    def window(self, died_at: datetime) -> tuple[datetime, datetime]:
        """When the family's follow-up opens and when it is due."""
        return (
            died_at + timedelta(days=self.opens_after_days),
            died_at + timedelta(days=self.due_after_days),
        )

    def too_late(self, died_at: datetime, now: datetime) -> bool:
        """The window of a death learned of this late has already closed."""
        return self.window(died_at)[1] <= now


def family_reason(died_at: datetime, zone: ZoneInfo) -> str:
    """Why a family-support case is in the queue, in words (the queue's tier reason)."""
    local = died_at.astimezone(zone)
    return f"family support after a death on {local.month}/{local.day}"

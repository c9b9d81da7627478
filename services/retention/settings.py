"""`[program.retention]`: how long personal data and the audit log are kept (pure: no I/O).

`personal_data_years` (default 7): the personal data of a person (sealed identity,
addresses, blind indexes, scenes, phones and their tokens, notes, replies, contacts) is
removed once every case of theirs has been closed that long, and the originals of
rejected feed records once they are that old; 0 removes them at the next run (tests,
dry runs). `audit_years` (default 6, at least 6): audit rows older than that are
removed. The de-identified rows the reports count (cases, events, attempts, treatment
referrals, texts with their states, consents, rejections) are kept."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

AUDIT_YEARS_AT_LEAST = 6  # consents and access logs: at least six years


class RetentionSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    personal_data_years: int = Field(default=7, ge=0, le=100)
    audit_years: int = Field(default=6, le=100)

    @field_validator("audit_years")
    @classmethod
    def _six_years_at_least(cls, value: int) -> int:
        if value < AUDIT_YEARS_AT_LEAST:
            raise ValueError(
                f"retention.audit_years is {value}: the audit log is kept at least "
                f"{AUDIT_YEARS_AT_LEAST} years (access logs, consents); give "
                f"{AUDIT_YEARS_AT_LEAST} or more"
            )
        return value

    def personal_cutoff(self, now: datetime) -> datetime:
        """Personal data of what closed before this is removed."""
        return years_before(now, self.personal_data_years)

    def audit_cutoff(self, now: datetime) -> datetime:
        """Audit rows older than this are removed."""
        return years_before(now, self.audit_years)


def years_before(now: datetime, years: int) -> datetime:
    """The same moment `years` calendar years earlier (29 February: the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)

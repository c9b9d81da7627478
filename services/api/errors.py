"""Domain errors as HTTP answers: each says what was wrong, in its own words."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import HTTPException

from services.cases import deaths, ownership, visits
from services.cases.reviews import ReviewError


def http_error(exc: Exception) -> HTTPException:
    detail = str(exc)
    match exc:
        case visits.CaseNotFound():
            return HTTPException(status_code=404, detail=detail)
        case visits.VersionConflict():
            return HTTPException(
                status_code=412, detail=detail, headers={"ETag": f'"{exc.current}"'}
            )
        case visits.CaseClosed() | ownership.AlreadyOwned():
            return HTTPException(status_code=409, detail=detail)
        case visits.ReferralMismatch() | visits.TimeOutOfRange() | ownership.NotAMember():
            return HTTPException(status_code=422, detail=detail)
        case visits.UnknownContact():
            return HTTPException(status_code=422, detail=detail)
        case ReviewError() | deaths.NotFlagged():
            return HTTPException(status_code=409, detail=detail)
    return HTTPException(status_code=400, detail=detail)


def storable_text(name: str, value: str | None) -> str | None:
    """Text the store can keep: PostgreSQL text holds no NUL character (0x00), so one
    is refused here (422) rather than failing in the database (500)."""
    if value is not None and "\x00" in value:
        raise HTTPException(status_code=422, detail=f"`{name}` may not contain a NUL character")
    return value


def storable_time(name: str, value: datetime) -> datetime:
    """An aware time that has a UTC equivalent (the store keeps UTC), else 422."""
    if value.tzinfo is None:
        raise HTTPException(status_code=422, detail=f"`{name}` needs a UTC offset")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise HTTPException(status_code=422, detail=f"`{name}` is out of range") from None

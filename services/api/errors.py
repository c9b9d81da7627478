"""Domain errors as HTTP answers: each says what was wrong, in its own words."""

from __future__ import annotations

from fastapi import HTTPException

from services.cases import ownership, visits
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
        case visits.ReferralMismatch() | visits.TimeOutOfRange():
            return HTTPException(status_code=422, detail=detail)
        case ReviewError():
            return HTTPException(status_code=409, detail=detail)
    return HTTPException(status_code=400, detail=detail)

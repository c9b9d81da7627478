"""What the engagement API and the case page's engagement form both do with a request:
check the caller, call services/cases/engagement.py, turn its refusals into HTTP answers.
Routes (engagement_routes.py) and pages (web/engagement_pages.py) import from here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import HTTPException

from services.accounts.roles import Capability
from services.api.auth import Caller, require
from services.api.case_actions import case_program
from services.api.errors import http_error
from services.bootstrap import Context
from services.cases import engagement
from services.cases.visits import VisitRecordError


def engagement_call(
    fn: Callable[..., engagement.Engagement], *args: Any, **kwargs: Any
) -> engagement.Engagement:
    """An engagement change, its refusal as an HTTP answer (pages use it too)."""
    try:
        done = fn(*args, **kwargs)
    except engagement.NotContacted as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    except engagement.CheckinOutOfRange as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    except VisitRecordError as exc:
        raise http_error(exc) from exc
    return done


def engagement_program(ctx: Context, caller: Caller, case_id: str) -> str:
    """The case's program, once the caller may record there and sees clinical facts."""
    program_id = case_program(ctx, caller, case_id, Capability.RECORD)
    require(caller, program_id, Capability.VIEW_CLINICAL)
    return program_id

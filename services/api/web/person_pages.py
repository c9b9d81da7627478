"""A person's page (`/persons/{id}`): every overdose with its place, every case with its
attempts and outcome, the texts and the reviews. Roles without sight of identities never
reach it (404, as for a person who does not exist)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from services.api.auth import PageCaller, context_of
from services.api.web.pages import page_common
from services.api.web.render import page
from services.cases import read_views
from services.cases.treatment import with_provider_names

router = APIRouter(include_in_schema=False)


@router.get("/persons/{person_id}", response_class=HTMLResponse)
def person_view(person_id: str, request: Request, caller: PageCaller) -> Response:
    ctx = context_of(request)
    found = read_views.read_person(ctx.store, ctx.cipher, person_id, caller.principal, ctx.clock())
    if found is None:
        raise HTTPException(status_code=404, detail=f"no person {person_id!r} you may see")
    program = ctx.programs.get(found.program_id)
    return page(
        request, "person.html", **page_common(ctx, caller),
        history=with_provider_names(found, ctx.programs),
        zone=program.timezone if program else "UTC",
    )  # fmt: skip

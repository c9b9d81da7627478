"""The work-queue page (live): who, where, the tier and why, when due, what is at risk,
who owns it and how often the team tried; paged and filtered as the queue API is, with
the count of each tier at the top, and the program's open spike alerts above it
(services/api/web/alert_pages.py; qrt.js fetches them again on each `alerts` event).

Rows are rendered by the server (queue_rows.html, the summary and pager included); qrt.js
fetches them again, with the page's own filters and page number, whenever the live
stream announces a change. Names and areas are read for roles that see the person, tier
reasons for roles with clinical sight; such a read is audited
(services/store/queue_people.py), and `redact` cuts the page last."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from schemas.cases import Tier
from services.accounts.redaction import sees_tier
from services.accounts.roles import Capability, Principal
from services.api.auth import Caller, PageCaller, context_of
from services.api.case_actions import filters_from
from services.api.web.pages import page_common, page_program
from services.api.web.render import page
from services.spikes.alert_reads import list_alerts
from services.spikes.alert_rows import AREA_WORDS
from services.store.queue_people import owners_of_open_cases, read_queue_people, tier_counts

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
MAX_PAGE = 100_000  # the API's offset stops at 1,000,000 too
FLAGS = ("at_risk", "missed", "callback_requested")


def _page_filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    tier, team, owner = (q.get(name) or None for name in ("tier", "team", "owner"))
    return {
        "tier": tier if tier in {t.value for t in Tier} else None,
        "team": team if team and len(team) <= 64 else None,
        **{flag: q.get(flag) == "true" or None for flag in FLAGS},
        "owner": owner if owner and len(owner) <= 64 else None,  # "me", "none" or a username
    }


def _page_number(request: Request) -> int:
    text = request.query_params.get("page") or "1"
    number = int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else 1
    return min(max(number, 1), MAX_PAGE)


def _includes(who: Principal, program_id: str) -> list[str]:
    """What this role may see of each row beyond ids (the page asks for nothing more)."""
    wanted = []
    if who.can(program_id, Capability.VIEW_PERSON):
        wanted.append("person")
    if who.can(program_id, Capability.VIEW_CLINICAL):
        wanted.append("tier_reason")
    return wanted


def _query(kept: dict[str, Any], number: int = 1) -> str:
    """The page's query string: its filters, and its number past the first."""
    query = {k: "true" if v is True else v for k, v in kept.items() if v}
    if number > 1:
        query["page"] = number
    return f"?{urlencode(query)}" if query else ""


def _link(program_id: str, kept: dict[str, Any], number: int = 1, **changes: Any) -> str:
    return f"/programs/{program_id}/queue" + _query({**kept, **changes}, number)


def _read(request: Request, caller: Caller, program_id: str) -> dict[str, Any]:
    """The page of the queue asked for (the last one when asked beyond it), with its
    filters, counts and the owners to filter by."""
    ctx = context_of(request)
    program = page_program(ctx, caller, program_id)
    who = caller.principal
    f = _page_filters(request)
    if not sees_tier(who, program_id):
        f["tier"] = None  # a role that sees no tiers gets no tier filter
    filters = filters_from(
        caller, [Tier(f["tier"])] if f["tier"] else None, "open", f["team"], f["at_risk"],
        f["missed"], f["callback_requested"], f["owner"], ctx,
    )  # fmt: skip
    number = _page_number(request)
    for _ in range(2):  # again at the last page when the one asked for is past the end
        found = read_queue_people(
            ctx.store, ctx.cipher, program_id, filters, who, include=_includes(who, program_id),
            limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE, zone=program.timezone,
            now=ctx.clock(),
        )  # fmt: skip
        if found.items or not found.total:
            break
        number = (found.total + PAGE_SIZE - 1) // PAGE_SIZE
    with ctx.store.engine.connect() as conn:
        counts = tier_counts(conn, program_id, filters) if sees_tier(who, program_id) else {}
        owners = owners_of_open_cases(conn, program_id)
    return {"program": program, "found": found, "number": number, "filters": f,
            "counts": counts, "owners": owners}  # fmt: skip


def _queue_values(request: Request, caller: Caller, program_id: str) -> dict[str, Any]:
    ctx = context_of(request)
    read = _read(request, caller, program_id)
    found, number, f, program = read["found"], read["number"], read["filters"], read["program"]
    kept = {k: v for k, v in f.items() if v}
    first = (number - 1) * PAGE_SIZE
    pages = max(1, (found.total + PAGE_SIZE - 1) // PAGE_SIZE)
    teams = [t.id for t in program.teams]
    return {
        **page_common(ctx, caller),
        "program_id": program_id,
        "program_name": program.name,
        "zone": program.timezone,
        "page": found,
        "filters": f,
        "filtered": bool(kept),
        "query": _query(kept, number),
        "shown_from": first + 1 if found.items else 0,
        "shown_to": first + len(found.items),
        "page_number": number,
        "pages": pages,
        "prev_url": _link(program_id, kept, number - 1) if number > 1 else None,
        "next_url": _link(program_id, kept, number + 1) if number < pages else None,
        "counts": [
            {"tier": t.value, "n": n, "url": _link(program_id, kept, tier=t.value)}
            for t, n in read["counts"].items()
        ],
        "tiers": [t.value for t in Tier] if sees_tier(caller.principal, program_id) else [],
        "teams": teams + ([f["team"]] if f["team"] and f["team"] not in teams else []),
        "owners": read["owners"]
        + ([f["owner"]] if f["owner"] not in (None, "me", "none", *read["owners"]) else []),
        "sees_person": caller.principal.can(program_id, Capability.VIEW_PERSON),
        "can_review": caller.principal.can(program_id, Capability.REVIEW),
        "can_export": caller.principal.can(program_id, Capability.EXPORT),
    }


@router.get("/programs/{program_id}/queue", response_class=HTMLResponse)
def queue_view(program_id: str, request: Request, caller: PageCaller) -> Response:
    values = _queue_values(request, caller, program_id)
    alerts = list_alerts(context_of(request).store, program_id, open_only=True)
    return page(request, "queue.html", alerts=alerts, area_words=AREA_WORDS, **values)


@router.get("/programs/{program_id}/queue/rows", response_class=HTMLResponse)
def queue_rows(program_id: str, request: Request, caller: PageCaller) -> Response:
    values = _queue_values(request, caller, program_id)
    response = page(request, "queue_rows.html", **values)
    response.headers["X-Total-Count"] = str(values["page"].total)
    return response

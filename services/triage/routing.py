"""Route an event to the QRT program that covers its jurisdiction."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.intake import RejectReason
from schemas.overdose_event import OverdoseEvent
from services.programs import Program, Programs


@dataclass(frozen=True)
class Unroutable:
    reason: RejectReason
    detail: str


def _counties(event: OverdoseEvent) -> list[str]:
    found = [event.location.county_fips]
    if event.patient and event.patient.address:
        found.append(event.patient.address.county_fips)
    return [c for c in found if c]


def route_event(event: OverdoseEvent, programs: Programs) -> Program | Unroutable:
    """Agency id first (an agency's contract names its program), then county FIPS."""
    by_agency = [p for p in programs.programs if event.agency_id in p.agency_ids]
    if len(by_agency) == 1:
        return by_agency[0]
    if len(by_agency) > 1:
        names = ", ".join(p.id for p in by_agency)
        return Unroutable(
            RejectReason.AMBIGUOUS_JURISDICTION,
            f"agency {event.agency_id!r} is listed by several programs ({names}); "
            "fix the programs file so one program owns it",
        )
    for county in _counties(event):
        by_county = [p for p in programs.programs if county in p.county_fips]
        if len(by_county) == 1:
            return by_county[0]
        if len(by_county) > 1:
            names = ", ".join(p.id for p in by_county)
            return Unroutable(
                RejectReason.AMBIGUOUS_JURISDICTION,
                f"county {county} is covered by several programs ({names}); "
                "list the agency under one of them",
            )
    counties = ", ".join(_counties(event)) or "none given"
    return Unroutable(
        RejectReason.UNROUTABLE,
        f"no program covers agency {event.agency_id!r} or county FIPS ({counties}); "
        "add location.county_fips, or add the agency to a program in the programs file",
    )

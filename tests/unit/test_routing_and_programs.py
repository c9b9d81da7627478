"""Routing to the program that covers a jurisdiction, and the programs file."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.intake import RejectReason
from schemas.overdose_event import OverdoseEvent
from services.planning.visit_window import visit_window
from services.programs import ProgramsFileError, VisitWindow, load_programs, parse_programs
from services.triage.routing import Unroutable, route_event

TWO = parse_programs(
    """
[[program]]
id = "north"
name = "North"
county_fips = ["11111"]
agency_ids = ["N-EMS"]

[[program]]
id = "south"
name = "South"
timezone = "America/Chicago"
county_fips = ["22222"]
agency_ids = ["S-PD", "SHARED"]

[[program]]
id = "east"
name = "East"
county_fips = ["22222"]
agency_ids = ["SHARED"]
"""
)


def ev(agency: str, county: str | None = None, home: str | None = None) -> OverdoseEvent:
    patient = {"address": {"county_fips": home}} if home else None
    return OverdoseEvent.model_validate(
        {
            "event_id": "1",
            "source": "ems",
            "agency_id": agency,
            "occurred_at": "2026-11-22T10:00:00+00:00",
            "location": {"county_fips": county},
            "patient": patient,
        }
    )


def test_agency_wins_over_county() -> None:
    routed = route_event(ev("S-PD", county="11111"), TWO)
    assert not isinstance(routed, Unroutable) and routed.id == "south"


def test_county_of_the_scene_then_of_the_home_address() -> None:
    scene = route_event(ev("OTHER", county="11111"), TWO)
    home = route_event(ev("OTHER", home="11111"), TWO)
    assert not isinstance(scene, Unroutable) and scene.id == "north"
    assert not isinstance(home, Unroutable) and home.id == "north"


def test_ambiguity_is_a_rejection_not_a_guess() -> None:
    by_agency = route_event(ev("SHARED"), TWO)
    by_county = route_event(ev("OTHER", county="22222"), TWO)
    assert isinstance(by_agency, Unroutable) and isinstance(by_county, Unroutable)
    assert by_agency.reason is RejectReason.AMBIGUOUS_JURISDICTION
    assert "south" in by_county.detail and "east" in by_county.detail


def test_nothing_matches() -> None:
    routed = route_event(ev("OTHER"), TWO)
    assert isinstance(routed, Unroutable) and routed.reason is RejectReason.UNROUTABLE


def test_bundled_example_program() -> None:
    programs = load_programs(None)
    example = programs.get("example")
    assert example is not None and example.visit_window == VisitWindow(
        opens_after_hours=12, due_after_hours=72
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not toml [", "not valid TOML"),
        ("", "no [[program]]"),
        ('[[program]]\nid = "a"\nname = "A"\ntimezone = "Mars/Base"\n', "unknown time zone"),
        ('[[program]]\nid = "a"\nname = "A"\n[[program]]\nid = "a"\nname = "B"\n', "twice"),
        (
            '[[program]]\nid = "a"\nname = "A"\n[program.visit_window]\n'
            "opens_after_hours = 80\ndue_after_hours = 72\n",
            "later than",
        ),
    ],
)
def test_bad_programs_file_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ProgramsFileError, match=re.escape(problem)):
        parse_programs(text, "p.toml")


def test_missing_programs_file(tmp_path: Path) -> None:
    with pytest.raises(ProgramsFileError, match="cannot be read"):
        load_programs(tmp_path / "nope.toml")


def test_visit_window_is_12_to_72_hours_in_utc() -> None:
    occurred = datetime.fromisoformat("2026-11-21T23:40:00-05:00")
    window = visit_window(occurred, VisitWindow())
    assert window.opens_at == datetime(2026, 11, 22, 16, 40, tzinfo=UTC)
    assert window.due_at == datetime(2026, 11, 25, 4, 40, tzinfo=UTC)


def test_visit_window_is_a_program_setting() -> None:
    occurred = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    window = visit_window(occurred, VisitWindow(opens_after_hours=0, due_after_hours=24))
    assert (window.opens_at, window.due_at) == (occurred, datetime(2026, 3, 2, tzinfo=UTC))

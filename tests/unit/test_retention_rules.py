"""Retention, pure: `[program.retention]` (defaults, the six-year floor of the audit log),
whose personal data goes (every case closed long enough ago, nothing pending, nothing new
since an earlier purge), and when the nightly run may start (03:00 program time)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.programs import ProgramsFileError, parse_programs
from services.retention.rules import CaseFacts, SubjectFacts, Verdict, night_run_day, verdict
from services.retention.settings import years_before

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
PROGRAM = """
[[program]]
id = "example"
name = "Example"
"""


def test_by_default_personal_data_is_kept_seven_years_and_the_audit_log_six() -> None:
    settings = parse_programs(PROGRAM).programs[0].retention
    assert (settings.personal_data_years, settings.audit_years) == (7, 6)
    assert settings.personal_cutoff(NOW) == datetime(2019, 12, 2, 8, 0, tzinfo=UTC)
    assert settings.audit_cutoff(NOW) == datetime(2020, 12, 2, 8, 0, tzinfo=UTC)
    zero = parse_programs(PROGRAM + "[program.retention]\npersonal_data_years = 0\n")
    assert zero.programs[0].retention.personal_cutoff(NOW) == NOW, "0: every closed case"


@pytest.mark.parametrize("years", [5, 0, -1])
def test_an_audit_log_kept_less_than_six_years_is_refused_with_a_reason(years: int) -> None:
    with pytest.raises(
        ProgramsFileError, match=r"audit_years is -?\d: the audit log is kept at least 6 years"
    ):
        parse_programs(PROGRAM + f"[program.retention]\naudit_years = {years}\n")


def test_other_retention_settings_are_refused() -> None:
    with pytest.raises(ProgramsFileError, match="personal_data_years"):
        parse_programs(PROGRAM + "[program.retention]\npersonal_data_years = -1\n")
    with pytest.raises(ProgramsFileError, match="extra"):
        parse_programs(PROGRAM + "[program.retention]\nevents_years = 3\n")


def test_years_before_keeps_the_moment_and_moves_29_february() -> None:
    leap = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    assert years_before(leap, 1) == datetime(2027, 2, 28, 12, 0, tzinfo=UTC)
    assert years_before(leap, 4) == datetime(2024, 2, 29, 12, 0, tzinfo=UTC)


CUTOFF = NOW - timedelta(days=365)


def case(days_ago: float, *, closed: bool = True, pending: bool = False) -> CaseFacts:
    return CaseFacts("c", closed, NOW - timedelta(days=days_ago), pending)


def person(*cases: CaseFacts, since: float = 900, report: float | None = None,
           purged: float | None = None) -> SubjectFacts:  # fmt: skip
    return SubjectFacts(
        kind="person", id="p", since=NOW - timedelta(days=since),
        last_report_at=None if report is None else NOW - timedelta(days=report),
        cases=list(cases), purged_at=None if purged is None else NOW - timedelta(days=purged),
    )  # fmt: skip


def test_a_person_goes_when_every_case_closed_before_the_cutoff() -> None:
    assert verdict(person(case(800), case(400)), CUTOFF) is Verdict.PURGE
    assert verdict(person(), CUTOFF) is Verdict.PURGE, "a person of reports only"
    assert verdict(person(case(800), case(10)), CUTOFF) is Verdict.RECENT
    assert verdict(person(case(800), case(900, closed=False)), CUTOFF) is Verdict.OPEN
    assert verdict(person(case(800, pending=True)), CUTOFF) is Verdict.OPEN, "a text to settle"
    assert verdict(person(case(800), report=30), CUTOFF) is Verdict.RECENT, "a report lately"
    assert verdict(person(case(800), since=30), CUTOFF) is Verdict.RECENT, "their record changed"


def test_a_person_purged_before_is_looked_at_again_only_after_a_change() -> None:
    assert verdict(person(case(800), purged=500), CUTOFF) is Verdict.DONE
    assert verdict(person(case(800), case(450), purged=500), CUTOFF) is Verdict.PURGE


def test_the_nightly_run_may_start_from_three_in_the_morning_program_time() -> None:
    ny = ZoneInfo("America/New_York")
    assert night_run_day(datetime(2026, 12, 2, 7, 59, tzinfo=UTC), ny) is None  # 02:59
    assert night_run_day(datetime(2026, 12, 2, 8, 0, tzinfo=UTC), ny) == date(2026, 12, 2)
    assert night_run_day(datetime(2026, 12, 3, 4, 59, tzinfo=UTC), ny) == date(2026, 12, 2)
    summer = datetime(2026, 7, 1, 7, 0, tzinfo=UTC)  # 03:00 EDT
    assert night_run_day(summer, ny) == date(2026, 7, 1)


def test_the_cases_of_a_persons_reports_owned_by_another_keep_them_too() -> None:
    def with_reports_in(*elsewhere: CaseFacts) -> SubjectFacts:
        theirs = [dataclasses.replace(c, id=f"b{n}") for n, c in enumerate(elsewhere)]
        return dataclasses.replace(person(case(800)), report_cases=theirs)

    assert verdict(with_reports_in(case(700)), CUTOFF) is Verdict.PURGE
    assert verdict(with_reports_in(case(700, closed=False)), CUTOFF) is Verdict.OPEN
    assert verdict(with_reports_in(case(700, pending=True)), CUTOFF) is Verdict.OPEN
    assert verdict(with_reports_in(case(20)), CUTOFF) is Verdict.RECENT, "closed lately"
    assert with_reports_in(case(700)).case_ids == ["c"], "purged with their own subject"

"""The family's follow-up after a death, pure: its window and rank per program
(`[program.family_support]`), and the words of the support check-in a contact gets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.cases import TIER_RANK, Referral, Tier
from services.cases.family_settings import FamilySupportSettings
from services.programs import ProgramsFileError, parse_programs
from services.sms.templates import MessageKind, forbidden_words_in, render, segments

DIED = datetime(2026, 11, 16, 17, 0, tzinfo=UTC)
PROGRAM = """
[[program]]
id = "example"
name = "Example"
"""


def test_by_default_the_window_is_7_to_30_days_after_the_death_below_survivors() -> None:
    settings = parse_programs(PROGRAM).programs[0].family_support
    assert settings.window(DIED) == (DIED + timedelta(days=7), DIED + timedelta(days=30))
    assert settings.tier_rank == TIER_RANK[Tier.FAMILY_SUPPORT]
    assert settings.tier_rank > max(TIER_RANK[t] for t in (Tier.NEW, Tier.DEFERRED, Tier.ENGAGED))
    assert settings.referral is Referral.GRIEF_RESOURCES
    assert not settings.too_late(DIED, DIED + timedelta(days=29, hours=23))
    assert settings.too_late(DIED, DIED + timedelta(days=30))


def test_a_program_sets_its_own_window_and_may_rank_families_with_survivors() -> None:
    text = PROGRAM + "[program.family_support]\nopens_after_days = 3\ndue_after_days = 14\n"
    settings = parse_programs(text + "rank_with_survivors = true\n").programs[0].family_support
    assert settings.window(DIED) == (DIED + timedelta(days=3), DIED + timedelta(days=14))
    assert settings.tier_rank == TIER_RANK[Tier.NEW]


@pytest.mark.parametrize(
    "section",
    ["opens_after_days = 10\ndue_after_days = 10", "due_after_days = 0", "ranked = true"],
)
def test_a_window_that_cannot_be_kept_is_refused_with_the_file(section: str) -> None:
    with pytest.raises(ProgramsFileError):
        parse_programs(PROGRAM + "[program.family_support]\n" + section + "\n")


def test_settings_are_checked_on_their_own_too() -> None:
    with pytest.raises(ValueError, match="due_after_days must be later"):
        FamilySupportSettings(opens_after_days=5, due_after_days=2)


@pytest.mark.parametrize("language", ["eng", "spa"])
def test_the_support_check_in_says_nothing_of_the_client(language: str) -> None:
    text = render(
        MessageKind.SUPPORT_CHECK_IN, language, team_name="Community Support Team",
        callback_number="+13045550100",
    ).text  # fmt: skip
    assert forbidden_words_in(text, ["Alex Testperson"]) == []
    for about_them in ("son", "daughter", "loss", "died", "death", "passed", "hijo", "muerte"):
        assert about_them not in text.lower().split(), f"{about_them!r} tells what happened"
    assert "STOP" in text and "+13045550100" in text
    assert segments(text) <= 2

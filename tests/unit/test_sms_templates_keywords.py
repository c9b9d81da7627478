"""Text templates never say what they must not; keywords behave as Twilio's."""

from __future__ import annotations

from datetime import date

import pytest

from services.sms.keywords import FAMILIES, KeywordFamily, keyword_family
from services.sms.templates import (
    FORBIDDEN_WORDS,
    LANGUAGES,
    TEMPLATES,
    MessageKind,
    day_name,
    forbidden_words_in,
    render,
    segments,
)

MUST_CATCH = [
    "overdose", "Overdosed", "opioids", "naloxone", "Narcan", "treatment", "treatments",
    "recovery", "drugs", "rehab", "detox", "police", "sobredosis", "opioides", "naloxona",
    "tratamiento", "recuperación", "drogas", "rehabilitación", "desintoxicación", "policía",
]  # fmt: skip


def every_text() -> list[tuple[str, MessageKind, str]]:
    out = []
    for language in LANGUAGES:
        for kind in MessageKind:
            rendered = render(
                kind,
                language,
                team_name="Community Support Team",
                callback_number="+13045550100",
                visit_day=day_name(date(2026, 11, 24), language),
            )
            out.append((language, kind, rendered.text))
    return out


@pytest.mark.parametrize(("language", "kind", "text"), every_text())
def test_no_template_says_a_forbidden_word_or_a_name(
    language: str, kind: MessageKind, text: str
) -> None:
    assert forbidden_words_in(text, ["Alex Testperson", "Jordan Samplewood"]) == []
    raw = TEMPLATES[language][kind]
    assert forbidden_words_in(raw) == []
    assert "{name" not in raw and "{first" not in raw and "{last" not in raw
    if kind is not MessageKind.OPT_OUT_CONFIRMATION:
        assert "STOP" in text, "every text says how to opt out"


@pytest.mark.parametrize("word", MUST_CATCH)
def test_the_guard_catches_each_forbidden_word_in_any_case_and_accent(word: str) -> None:
    assert forbidden_words_in(f"We can help with {word} today.")
    assert forbidden_words_in(f"{word.upper()}!")


def test_the_guard_catches_the_recipients_name_but_not_parts_of_words() -> None:
    assert forbidden_words_in("Hi Alex, checking in", ["Alex Testperson"]) == ["Alex Testperson"]
    assert forbidden_words_in("Hi ALEX", ["alex"]) == ["alex"]
    assert forbidden_words_in("Alexandria office", ["Alex"]) == []
    assert "drug" in FORBIDDEN_WORDS and forbidden_words_in("a drugstore") == ["drug"]


def test_render_refuses_a_clinical_team_name_and_a_reminder_without_a_day() -> None:
    with pytest.raises(ValueError, match="generic"):
        render(
            MessageKind.CHECK_IN, "eng", team_name="Overdose Response Team", callback_number=None
        )
    with pytest.raises(ValueError, match="visit day"):
        render(MessageKind.VISIT_REMINDER, "eng", team_name="Support Team", callback_number=None)


def test_language_falls_back_to_english_and_spanish_is_used() -> None:
    args = {"team_name": "Support Team", "callback_number": None}
    assert render(MessageKind.CHECK_IN, "fra", **args).language == "eng"
    assert render(MessageKind.CHECK_IN, None, **args).language == "eng"
    spa = render(MessageKind.CHECK_IN, "spa", **args)
    assert spa.language == "spa" and spa.text.startswith("Hola")
    assert day_name(date(2026, 11, 24), "spa") == "martes"
    assert day_name(date(2026, 11, 24), "eng") == "Tuesday"


def test_english_texts_fit_one_segment() -> None:
    for language, kind, text in every_text():
        if language == "eng":
            assert segments(text) == 1, (kind, len(text))
    assert segments("x" * 161) == 2 and segments("é" * 71) == 2


@pytest.mark.parametrize(
    ("body", "family"),
    [
        ("STOP", KeywordFamily.OPT_OUT), ("stop", KeywordFamily.OPT_OUT),
        (" Stop \n", KeywordFamily.OPT_OUT), ("unsubscribe", KeywordFamily.OPT_OUT),
        ("StopAll", KeywordFamily.OPT_OUT), ("optout", KeywordFamily.OPT_OUT),
        ("START", KeywordFamily.OPT_IN), ("unstop", KeywordFamily.OPT_IN),
        ("yes", KeywordFamily.OPT_IN), ("HELP", KeywordFamily.HELP), ("info", KeywordFamily.HELP),
        ("stop please", None), ("STOP!", None), ("stopp", None), ("", None),
        ("please help", None), ("yes please", None),
    ],
)  # fmt: skip
def test_keywords_are_the_whole_message(body: str, family: KeywordFamily | None) -> None:
    assert keyword_family(body) is family


def test_every_keyword_family_is_complete() -> None:
    by_family: dict[KeywordFamily, set[str]] = {}
    for word, family in FAMILIES.items():
        by_family.setdefault(family, set()).add(word)
    assert by_family[KeywordFamily.OPT_OUT] == {
        "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"
    }  # fmt: skip
    assert by_family[KeywordFamily.OPT_IN] == {"START", "UNSTOP", "YES"}
    assert by_family[KeywordFamily.HELP] == {"HELP", "INFO"}

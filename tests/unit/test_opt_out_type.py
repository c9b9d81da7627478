"""Twilio's OptOutType (Advanced Opt-Out) decides before our keyword list."""

from __future__ import annotations

import pytest

from services.sms.keywords import KeywordFamily, keyword_family


@pytest.mark.parametrize(
    ("body", "told", "family"),
    [("ALTO", "STOP", KeywordFamily.OPT_OUT), ("Reanudar", "START", KeywordFamily.OPT_IN),
     ("AYUDA", "HELP", KeywordFamily.HELP), ("arrêt", "stop", KeywordFamily.OPT_OUT),
     ("STOP", "START", KeywordFamily.OPT_IN), ("ALTO", None, None), ("ALTO", "", None),
     ("stop", "SOMETHING", KeywordFamily.OPT_OUT), ("hello", "UNKNOWN", None)],
)  # fmt: skip
def test_opt_out_type_first_then_our_list(
    body: str, told: str | None, family: KeywordFamily | None
) -> None:
    assert keyword_family(body, told) is family

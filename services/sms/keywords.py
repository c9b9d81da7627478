"""Opt-out, opt-in and help keywords, recognized as Twilio's default opt-out handling does:
the whole message is the keyword, any case, surrounding whitespace ignored
("STOP" and " stop " match; "stop please" and "STOP!" do not)."""

from __future__ import annotations

from enum import StrEnum


class KeywordFamily(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


FAMILIES: dict[str, KeywordFamily] = {
    **dict.fromkeys(
        ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"),
        KeywordFamily.OPT_OUT,
    ),
    **dict.fromkeys(("START", "UNSTOP", "YES"), KeywordFamily.OPT_IN),
    **dict.fromkeys(("HELP", "INFO"), KeywordFamily.HELP),
}


def keyword_family(body: str) -> KeywordFamily | None:
    return FAMILIES.get(body.strip().upper())

"""Opt-out, opt-in and help keywords, recognized as Twilio's default opt-out handling does:
the whole message is the keyword, any case, surrounding whitespace ignored
("STOP" and " stop " match; "stop please" and "STOP!" do not).

Twilio's own word comes first: with Advanced Opt-Out on a Messaging Service, Twilio
sends `OptOutType` (STOP, START or HELP) with an inbound message that is one of the
keywords it manages, in any language configured there (Spanish ALTO, REANUDAR, AYUDA,
say). That word decides; our list is for messages without it."""

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

# The values of Twilio's `OptOutType` webhook parameter.
OPT_OUT_TYPES: dict[str, KeywordFamily] = {
    "STOP": KeywordFamily.OPT_OUT,
    "START": KeywordFamily.OPT_IN,
    "HELP": KeywordFamily.HELP,
}


def keyword_family(body: str, opt_out_type: str | None = None) -> KeywordFamily | None:
    """Twilio's `OptOutType` when it sent one we know, else our keyword list."""
    told = OPT_OUT_TYPES.get((opt_out_type or "").strip().upper())
    return told if told is not None else FAMILIES.get(body.strip().upper())

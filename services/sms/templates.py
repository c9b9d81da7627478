"""Text templates per language: generic wording only (42 CFR Part 2 / HIPAA).

A text never names a substance, an overdose, treatment, recovery, the police or
the person: `render` refuses a text that would, so a careless template or team
name cannot reach a phone. English is the fallback language."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class MessageKind(StrEnum):
    CHECK_IN = "check_in"
    VISIT_REMINDER = "visit_reminder"
    FOLLOW_UP_DAY_3 = "follow_up_day_3"
    FOLLOW_UP_DAY_7 = "follow_up_day_7"
    FOLLOW_UP_DAY_30 = "follow_up_day_30"
    HELP = "help"
    OPT_OUT_CONFIRMATION = "opt_out_confirmation"
    OPT_IN_CONFIRMATION = "opt_in_confirmation"
    # to a contact of a case (a family after a death): says nothing of the client
    SUPPORT_CHECK_IN = "support_check_in"


# Stems, matched at the start of a word, accents and case ignored: "drug" catches
# "drugs", "overdos" catches "overdosed", "tratamiento" catches "tratamientos".
FORBIDDEN_WORDS: tuple[str, ...] = (
    "overdos", "opioid", "naloxon", "narcan", "treatment", "recover", "drug", "rehab",
    "detox", "police", "sobredosis", "opioide", "tratamiento", "recuperacion", "droga",
    "rehabilitacion", "desintoxicacion", "policia", "heroin", "fentanyl", "fentanil",
)  # fmt: skip

_STOP_EN = "Reply STOP to opt out."
_STOP_ES = "Responda STOP para no recibir mas mensajes."

TEMPLATES: Mapping[str, Mapping[MessageKind, str]] = {
    "eng": {
        MessageKind.CHECK_IN: (
            "Hi, this is the {team}. We would like to check in and see how you are doing. "
            "{call}" + _STOP_EN
        ),
        MessageKind.VISIT_REMINDER: (
            "Hi, this is the {team}. Someone from our team hopes to stop by {day}. "
            "{call}" + _STOP_EN
        ),
        MessageKind.FOLLOW_UP_DAY_3: "Hi, the {team} is thinking of you. {call}" + _STOP_EN,
        MessageKind.FOLLOW_UP_DAY_7: (
            "Hi, this is the {team} checking in again. We are here if you need anything. "
            "{call}" + _STOP_EN
        ),
        MessageKind.FOLLOW_UP_DAY_30: (
            "Hi, this is the {team}. It has been a while; we are still here for you. "
            "{call}" + _STOP_EN
        ),
        MessageKind.HELP: "{team}. {call}" + _STOP_EN,
        MessageKind.OPT_OUT_CONFIRMATION: (
            "You will get no more texts from the {team}. Reply START to resume."
        ),
        MessageKind.OPT_IN_CONFIRMATION: "Texts from the {team} are back on. " + _STOP_EN,
        MessageKind.SUPPORT_CHECK_IN: (
            "Hi, this is the {team}, thinking of you and your family. We are here for you. "
            "{call}" + _STOP_EN
        ),
    },
    "spa": {
        MessageKind.CHECK_IN: (
            "Hola, le escribe el {team}. Queremos saber como esta. {call}" + _STOP_ES
        ),
        MessageKind.VISIT_REMINDER: (
            "Hola, le escribe el {team}. Alguien del equipo espera visitarle el {day}. "
            "{call}" + _STOP_ES
        ),
        MessageKind.FOLLOW_UP_DAY_3: "Hola, el {team} piensa en usted. {call}" + _STOP_ES,
        MessageKind.FOLLOW_UP_DAY_7: (
            "Hola, el {team} le saluda de nuevo. Estamos aqui si necesita algo. {call}" + _STOP_ES
        ),
        MessageKind.FOLLOW_UP_DAY_30: (
            "Hola, le escribe el {team}. Seguimos aqui para usted. {call}" + _STOP_ES
        ),
        MessageKind.HELP: "{team}. {call}" + _STOP_ES,
        MessageKind.OPT_OUT_CONFIRMATION: (
            "No recibira mas mensajes del {team}. Responda START para volver a recibirlos."
        ),
        MessageKind.OPT_IN_CONFIRMATION: "Los mensajes del {team} estan activos. " + _STOP_ES,
        MessageKind.SUPPORT_CHECK_IN: (
            "Hola, le escribe el {team}. Pensamos en usted y en su familia; estamos aqui "
            "para ustedes. {call}" + _STOP_ES
        ),
    },
}
LANGUAGES: tuple[str, ...] = tuple(TEMPLATES)
FALLBACK = "eng"
_CALL = {"eng": "Call or text us at {number}. ", "spa": "Llame o escriba al {number}. "}
_DAYS = {
    "eng": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "spa": ("lunes", "martes", "miercoles", "jueves", "viernes", "sabado", "domingo"),
}


@dataclass(frozen=True)
class Rendered:
    text: str
    language: str
    kind: MessageKind


def language_of(language: str | None) -> str:
    code = (language or "").strip().lower()
    return code if code in TEMPLATES else FALLBACK


def day_name(day: date, language: str | None) -> str:
    return _DAYS[language_of(language)][day.weekday()]


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def forbidden_words_in(text: str, recipient_names: Iterable[str] = ()) -> list[str]:
    """Every forbidden word (or recipient name) found in `text`."""
    folded = _folded(text)
    found = [w for w in FORBIDDEN_WORDS if re.search(rf"\b{re.escape(w)}", folded)]
    for name in recipient_names:
        for part in _folded(name).split():
            if len(part) > 1 and re.search(rf"\b{re.escape(part)}\b", folded):
                found.append(name)
                break
    return found


def render(
    kind: MessageKind,
    language: str | None,
    *,
    team_name: str,
    callback_number: str | None,
    visit_day: str | None = None,
) -> Rendered:
    if forbidden_words_in(team_name):
        raise ValueError(
            f"team name {team_name!r} names what texts must never name "
            f"({', '.join(forbidden_words_in(team_name))}); choose a generic one"
        )
    code = language_of(language)
    if kind is MessageKind.VISIT_REMINDER and not visit_day:
        raise ValueError("a visit reminder needs the visit day")
    call = _CALL[code].format(number=callback_number) if callback_number else ""
    text = TEMPLATES[code][kind].format(team=team_name, call=call, day=visit_day or "")
    text = " ".join(text.split())
    bad = forbidden_words_in(text)
    if bad:
        raise ValueError(f"text {kind} ({code}) would contain {', '.join(bad)}: refused")
    return Rendered(text=text, language=code, kind=kind)


def segments(text: str) -> int:
    """SMS segments: 160/153 characters in GSM-7, 70/67 once any other character is used."""
    gsm = all(ord(c) < 128 for c in text)
    single, multi = (160, 153) if gsm else (70, 67)
    return 1 if len(text) <= single else -(-len(text) // multi)

"""Normalisation of the identifying parts of a report, and a phonetic name code.

Everything here is pure and deterministic; nothing is logged. Functions accept
`None` (the contract makes every patient field optional) and return an empty
string or `None` for "nothing usable".

- `normalize_name`: case-folded, accents out (NFKD), hyphens, apostrophes,
  periods and any other non-letter become spaces; name particles ("de", "la",
  "van", "st", ...) and generational suffixes ("jr", "iii", ...) are dropped
  unless they are the whole name; whitespace collapsed. Idempotent.
- `normalize_phone`: E.164. North American numbers become `+1NXXNXXXXXX`;
  numbers written with a leading `+` and another country code are kept as
  `+digits` (8 to 15 digits); placeholders such as 999-999-9999 and anything
  else give None.
- `normalize_zip`: the 5-digit ZIP code, or None.
- `normalize_street`: case-folded, punctuation out, common street suffixes,
  directions and unit designators abbreviated one way (street -> st, north -> n,
  apartment -> apt, # -> unit, ...).
- `phonetic`: the primary code of Double Metaphone (Lawrence Philips, 2000),
  implemented here from the published rules, per name token, tokens joined by a
  space. Unlike the usual 4-character cap, the code is not truncated: a longer
  code agrees by accident less often, and a wrong link is worse than a missed
  one. "Jon"/"John" -> "JN", "Smyth"/"Smith" -> "SM0".
"""

from __future__ import annotations

import re
import unicodedata

from services.identity.metaphone import metaphone_primary

# Name particles: dropped unless they are the whole name ("Le" stays "le").
NAME_PARTICLES = frozenset(
    {
        "al",
        "ben",
        "bin",
        "da",
        "das",
        "de",
        "del",
        "dela",
        "della",
        "den",
        "der",
        "des",
        "di",
        "do",
        "dos",
        "du",
        "el",
        "ibn",
        "la",
        "las",
        "le",
        "les",
        "los",
        "saint",
        "sainte",
        "st",
        "ste",
        "van",
        "von",
        "y",
    }
)
NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})
_DROPPABLE = NAME_PARTICLES | NAME_SUFFIXES

# Letters NFKD does not decompose into a base letter plus a mark.
_EXTRA_FOLD = str.maketrans(
    {
        "ø": "o",
        "đ": "d",
        "ð": "d",
        "ł": "l",
        "ŀ": "l",
        "ħ": "h",
        "\u0131": "i",  # dotless i
        "þ": "th",
        "æ": "ae",
        "œ": "oe",
    }
)


def _fold(text: str) -> str:
    """Case-fold and strip accents (NFKD, combining marks dropped)."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.translate(_EXTRA_FOLD)


def _stable_letter(char: str) -> bool:
    """A letter that folding leaves alone (keeps `normalize_name` idempotent)."""
    if char.isascii():
        return "a" <= char <= "z"
    return char.isalpha() and _fold(char) == char


def normalize_name(s: str | None) -> str:
    """A name for comparison: "María-José DE LA Cruz Jr." -> "maria jose cruz"."""
    if not s:
        return ""
    folded = _fold(s)
    tokens = "".join(c if _stable_letter(c) else " " for c in folded).split()
    kept = [t for t in tokens if t not in _DROPPABLE]
    return " ".join(kept or tokens)


# --- phone -------------------------------------------------------------------------

_EXTENSION = re.compile(r"\s*(?:ext\.?|x|#)\s*[0-9]{1,6}\s*$", re.IGNORECASE)
_PHONE_CHARS = re.compile(r"\+?[0-9 ().\-/]*", re.ASCII)
_NON_DIGIT = re.compile(r"[^0-9]", re.ASCII)


def _nanp(national: str) -> str | None:
    """`+1NXXNXXXXXX` for a valid 10-digit North American number, else None."""
    if len(national) != 10:
        return None
    area, exchange = national[:3], national[3:6]
    if area[0] in "01" or exchange[0] in "01" or area[1:] == "11":
        return None
    if len(set(national)) == 1:  # 222-222-2222, 999-999-9999: "unknown" placeholders
        return None
    return "+1" + national


def normalize_phone(raw: str | None, default_country: str = "1") -> str | None:
    """E.164 form of a phone number written by hand, or None when it is not one.

    Accepted: "(304) 555-0142", "304.555.0142", "1-304-555-0142", "+1 304 555 0142",
    "011 44 20 7946 0958", "+44 20 7946 0958", a trailing "ext 12" / "x12" (dropped).
    Without a leading "+", the number is read in `default_country` (a calling code;
    for a country other than "1" one leading trunk "0" is dropped).
    """
    if not default_country.isascii() or not default_country.isdigit():
        raise ValueError("default_country must be a calling code such as '1'")
    if not raw:
        return None
    text = _EXTENSION.sub("", raw.strip())
    if not text or not _PHONE_CHARS.fullmatch(text):
        return None
    digits = _NON_DIGIT.sub("", text)
    if text.startswith("+"):
        return _international(digits)
    if default_country == "1":
        if len(digits) == 10:
            return _nanp(digits)
        if len(digits) == 11 and digits.startswith("1"):
            return _nanp(digits[1:])
        if digits.startswith("011"):
            return _international(digits[3:])
        return None
    if digits.startswith("00"):
        return _international(digits[2:])
    if digits.startswith("0"):
        digits = digits[1:]
    return _international(default_country + digits)


def _international(digits: str) -> str | None:
    if digits.startswith("1"):
        return _nanp(digits[1:])
    if digits.startswith("0") or not 8 <= len(digits) <= 15:
        return None
    return "+" + digits


# --- zip, street ---------------------------------------------------------------------

_ZIP = re.compile(r"([0-9]{5})(?:[-\s]?[0-9]{4})?", re.ASCII)


def normalize_zip(s: str | None) -> str | None:
    """ "25701", "25701-1234", " 25701 1234 " -> "25701"; anything else None."""
    if not s:
        return None
    found = _ZIP.fullmatch(s.strip())
    if not found or found.group(1) == "00000":
        return None
    return found.group(1)


STREET_ABBREVIATIONS = {
    "street": "st",
    "str": "st",
    "avenue": "ave",
    "av": "ave",
    "boulevard": "blvd",
    "road": "rd",
    "drive": "dr",
    "lane": "ln",
    "court": "ct",
    "place": "pl",
    "highway": "hwy",
    "parkway": "pkwy",
    "circle": "cir",
    "terrace": "ter",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
    "apartment": "apt",
    "suite": "ste",
    "#": "unit",
}
_UNIT_DESIGNATORS = frozenset({"apt", "unit", "ste", "rm", "room", "fl", "floor", "lot"})


def normalize_street(s: str | None) -> str:
    """A street line for comparison: "123 North Main Street, Apt. #4" -> "123 n main st apt 4"."""
    if not s:
        return ""
    folded = _fold(s).replace("#", " # ")
    cleaned = "".join(c if c.isalnum() or c == "#" else " " for c in folded)
    out: list[str] = []
    for part in cleaned.split():
        word = STREET_ABBREVIATIONS.get(part, part)
        if part == "#" and out and out[-1] in _UNIT_DESIGNATORS:
            continue  # "apt # 4" is "apt 4"
        out.append(word)
    return " ".join(out)


def phonetic_of_normalized(name: str) -> str:
    """The phonetic code of an already normalised name, one code per token."""
    codes = []
    for token in name.split():
        ascii_letters = "".join(c for c in token.upper() if "A" <= c <= "Z")
        code = metaphone_primary(ascii_letters)
        if code:
            codes.append(code)
    return " ".join(codes)


def phonetic(name: str | None) -> str:
    """Phonetic code of a name, one code per token: "Jon Smyth" -> "JN SM0".

    The name is normalised first (`normalize_name` is idempotent, so passing an
    already normalised name is fine). Empty when nothing codable remains.
    """
    return phonetic_of_normalized(normalize_name(name))

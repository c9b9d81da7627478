"""Is an EMS report an overdose, and which kind (pure).

`opioid_overdose` is exactly the NEMSIS opioid overdose case definition (May
2025): any of eSituation.09, .10 (pertinent negatives excluded), .11 or .12
matches the regex below, or a medication group gave naloxone (RxNorm 7242,
203192, 197117) with the response "improved" (9916001).
`suspected_overdose`: any other drug, by ICD-10-CM family: a code that starts
with one of the program's `suspected_icd10_prefixes` (default: T36-T50,
poisoning by drugs, medicaments and biological substances; F11-F16, F18, F19,
drug use disorders). Anything else is `not_overdose`: skipped and counted."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

OPIOID = re.compile(r"^(F11.*)|(T40\.[0-3]X?[1-4]?A?)|(T40\.4.?[1-4]?A?)|(T40\.6[09]?[1-4]?A?)$")
NALOXONE_RXNORM = frozenset({"7242", "203192", "197117"})
IMPROVED = "9916001"
DEFAULT_SUSPECTED_PREFIXES: tuple[str, ...] = (
    *(f"T{n}" for n in range(36, 51)),
    "F11", "F12", "F13", "F14", "F15", "F16", "F18", "F19",
)  # fmt: skip


class OverdoseClass(StrEnum):
    OPIOID_OVERDOSE = "opioid_overdose"
    SUSPECTED_OVERDOSE = "suspected_overdose"
    NOT_OVERDOSE = "not_overdose"


def classify(
    codes: Iterable[str],
    medications: Iterable[tuple[str | None, str | None]],
    suspected_prefixes: tuple[str, ...] | None = None,
) -> OverdoseClass:
    """`codes`: eSituation.09-.12 values without pertinent negatives;
    `medications`: (eMedications.03, eMedications.07) per medication group."""
    codes = [c.strip().upper() for c in codes if c and c.strip()]
    if any(OPIOID.match(c) for c in codes):
        return OverdoseClass.OPIOID_OVERDOSE
    if any(code in NALOXONE_RXNORM and response == IMPROVED for code, response in medications):
        return OverdoseClass.OPIOID_OVERDOSE
    prefixes = DEFAULT_SUSPECTED_PREFIXES if suspected_prefixes is None else suspected_prefixes
    if any(c.startswith(prefixes) for c in codes):
        return OverdoseClass.SUSPECTED_OVERDOSE
    return OverdoseClass.NOT_OVERDOSE


def followed_up(found: OverdoseClass, program_follows: OverdoseClass) -> bool:
    """A program following suspected overdoses takes opioid ones too."""
    if found is OverdoseClass.NOT_OVERDOSE:
        return False
    return program_follows is OverdoseClass.SUSPECTED_OVERDOSE or found is program_follows

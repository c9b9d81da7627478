"""String and date-of-birth similarity for identity matching.

`jaro_winkler` is the classic Jaro similarity with Winkler's common-prefix boost
(prefix scale 0.1, at most 4 characters, boost only when Jaro > 0.7). It is made
exactly symmetric (the pair is put in a canonical order before matching), so
`score_pair` can be symmetric too.

`dob_agreement` classifies two dates of birth into the kinds of disagreement that
real reports produce: exact, day and month swapped (04/05 read as 05/04), one
digit slipped in YYYYMMDD, missing on either side, or different.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

_BOOST_THRESHOLD = 0.7
_PREFIX_SCALE = 0.1
_MAX_PREFIX = 4


def _jaro(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    # Canonical order (shorter first, then lexicographic): exact symmetry.
    if (len(a), a) > (len(b), b):
        a, b = b, a
    len_a, len_b = len(a), len(b)
    window = max(len_b // 2 - 1, 0)
    taken = [False] * len_b
    matched_a: list[str] = []
    for i, char in enumerate(a):
        for j in range(max(0, i - window), min(len_b, i + window + 1)):
            if not taken[j] and b[j] == char:
                taken[j] = True
                matched_a.append(char)
                break
    matches = len(matched_a)
    if matches == 0:
        return 0.0
    matched_b = [b[j] for j in range(len_b) if taken[j]]
    half_transpositions = sum(1 for x, y in zip(matched_a, matched_b, strict=True) if x != y)
    transpositions = half_transpositions // 2
    return (matches / len_a + matches / len_b + (matches - transpositions) / matches) / 3.0


def jaro_winkler(a: str, b: str) -> float:
    """Jaro-Winkler similarity in [0, 1]; 1.0 for equal strings, 0.0 if one is empty."""
    jaro = _jaro(a, b)
    if jaro <= _BOOST_THRESHOLD:
        return jaro
    prefix = 0
    for x, y in zip(a[:_MAX_PREFIX], b[:_MAX_PREFIX], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * _PREFIX_SCALE * (1.0 - jaro)


class DobAgreement(StrEnum):
    EXACT = "exact"
    DAY_MONTH_SWAPPED = "day_month_swapped"
    ONE_DIGIT_SLIP = "one_digit_slip"
    MISSING = "missing"
    DIFFERENT = "different"


def _digits(d: date) -> str:
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def swap_day_month(d: date) -> date | None:
    """`d` with day and month exchanged, or None when that is no other valid date."""
    if d.day == d.month or d.day > 12:
        return None
    return date(d.year, d.day, d.month)


def dob_agreement(a: date | None, b: date | None) -> DobAgreement:
    """How two dates of birth agree; symmetric in its arguments."""
    if a is None or b is None:
        return DobAgreement.MISSING
    if a == b:
        return DobAgreement.EXACT
    if a.year == b.year and a.month == b.day and a.day == b.month:
        return DobAgreement.DAY_MONTH_SWAPPED
    if sum(1 for x, y in zip(_digits(a), _digits(b), strict=True) if x != y) == 1:
        return DobAgreement.ONE_DIGIT_SLIP
    return DobAgreement.DIFFERENT

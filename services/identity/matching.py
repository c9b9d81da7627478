"""Is this report about a person the program already knows? Score, then decide.

Link, don't merge destructively: a pair is scored, and `decide` turns the score
into `link` (same person, automatically), `review` (a human decides) or `new`.
A wrong link is worse than a missed one, so only two exactly agreeing strong
identifiers may link, and conflicting data always goes to review.

Features
    `features_from_patient` normalises a `Patient` (see `normalize`): names,
    their phonetic codes (Double Metaphone primary), date of birth (placeholder
    dates before 1900 or 1900-01-01 count as missing), E.164 phone, 5-digit ZIP,
    street line. `PersonFeatures` never shows its values in `repr`.

Blocking (services/identity/blocking.py)
    `blocking_keys` gives the plaintext (kind, value) pairs a candidate must share
    at least one of (at most 6). Another module turns them into keyed HMAC blind
    indexes. `last_code_dob_swapped` is the incoming DOB with day and month
    exchanged: it must be hashed under the `last_code_dob` kind (`index_kind`),
    so that it meets the stored `last_code_dob` of a person whose DOB was
    written the other way round. Store and query all keys through `index_kind`.

Weights (`score_pair`, points; score = points / 100, clamped to [0, 1])
    ============================  ======  ==================================
    Field, agreement              Points  Evidence code
    ============================  ======  ==================================
    last name exact               +25     last_exact (or name_exact)
    last name similar             +18     last_similar (JW >= 0.92, one name's
                                          tokens inside the other's, or glued
                                          particles "delacruz"/"cruz")
    last name phonetic            +15     last_phonetic (same code)
    last name clearly different   -15     last_different (JW < 0.80, other
                                          codes, no token overlap)
    first name exact              +20     first_exact (or name_exact)
    first name similar            +14     first_similar
    first name phonetic           +12     first_phonetic
    first name initial only       +5      first_initial ("J" / "John")
    first name clearly different  -10     first_different
    first/last swapped, exact     +30     names_swapped (replaces the above)
    DOB exact                     +40     dob_exact
    DOB day/month swapped         +15     dob_swapped
    DOB one digit slipped         +15     dob_slip
    DOB different                 -25     dob_different
    phone same                    +45     phone_same
    phone different               0       phone_different (people change numbers)
    ZIP same                      +5      zip_same
    street same (ZIPs not apart)  +5      street_same
    ============================  ======  ==================================

    Anything missing on either side counts 0: absence is not evidence.

    Link gate: a pair reaches above `SOFT_CAP` (0.80) only with a *strong pair*,
    two strong identifiers agreeing exactly: full name (both parts exact) + DOB
    (85), phone + DOB (85), or phone + full name (90). Every other combination is
    capped at 0.80, so soft evidence (similar spellings, swapped DOB, address)
    can never add up to an automatic link (twins "Jon" and "Jan" with one DOB and
    one address stay in review). `Thresholds` refuses `auto_link <= SOFT_CAP`.

Thresholds (defaults)
    auto_link = 0.85: exactly the weakest strong pair (full name + DOB, or phone +
    DOB) links; nothing weaker does.
    review = 0.40: what a human should see: DOB exact alone (40); full name alone
    (45); phone alone (45); "Jon Smyth, 1990-01-02" vs "John Smith, 1990-02-01"
    (first similar 14 + last phonetic 15 + DOB swapped 15 = 44); full name + DOB
    swapped or slipped (60). Two different people sharing only a DOB
    (40 - 15 - 10 = 15) or only a ZIP stay `new`.

Conflicts (always `review`, never `link`, never silently `new`)
    dob_conflict: DOBs differ beyond a swap or one-digit slip while the names
        agree (both parts at least phonetic, or swapped) or the phone is the same.
    phone_shared_other_name: same phone, but the last names (JW < 0.80 and no
        phonetic or token agreement) or the first names are clearly different.
    first_name_conflict: last name and DOB (exact, swapped or slipped) agree but
        the first names are clearly different: twins and siblings.

Symmetry: every comparison is symmetric, so `score_pair(a, b) == score_pair(b, a)`
(score, evidence and conflicts).

Examples (default thresholds): "John Smith 1990-02-01" vs "john  SMITH 1990-02-01"
-> link (85); "Maria de la Cruz" vs "María Cruz", same DOB -> link (85);
"(304) 555-0142" vs "+13045550142" and same DOB -> link; "Jon Smyth, 1990-01-02"
vs "John Smith, 1990-02-01" -> review (44); same name, DOBs 1990-02-01 and
1975-07-30 -> review (dob_conflict); completely different people -> new;
empty features -> new.
"""

from __future__ import annotations

__all__ = [
    "Decision",
    "MatchScore",
    "PersonFeatures",
    "Thresholds",
    "best_match",
    "decide",
    "features_from_patient",
    "score_pair",
]

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from services.identity.features import PersonFeatures, features_from_patient
from services.identity.normalize import NAME_PARTICLES
from services.identity.similarity import (
    DobAgreement,
    dob_agreement,
    jaro_winkler,
)

SIMILAR_JW = 0.92
DIFFERENT_JW = 0.80
SOFT_CAP = 0.80

LAST_POINTS = {"exact": 25, "similar": 18, "phonetic": 15, "different": -15}
FIRST_POINTS = {"exact": 20, "similar": 14, "phonetic": 12, "initial": 5, "different": -10}
NAMES_SWAPPED_POINTS = 30
DOB_POINTS = {
    DobAgreement.EXACT: 40,
    DobAgreement.DAY_MONTH_SWAPPED: 15,
    DobAgreement.ONE_DIGIT_SLIP: 15,
    DobAgreement.MISSING: 0,
    DobAgreement.DIFFERENT: -25,
}
DOB_EVIDENCE = {
    DobAgreement.EXACT: "dob_exact",
    DobAgreement.DAY_MONTH_SWAPPED: "dob_swapped",
    DobAgreement.ONE_DIGIT_SLIP: "dob_slip",
    DobAgreement.DIFFERENT: "dob_different",
}
PHONE_POINTS = 45
ZIP_POINTS = 5
STREET_POINTS = 5
_SOFT_CAP_POINTS = 80
_MAX_POINTS = 100


def _compact(name: str) -> str:
    return name.replace(" ", "")


# --- scoring ----------------------------------------------------------------------------


class _Name(IntEnum):
    """How two names agree, weakest to strongest."""

    MISSING = 0
    DIFFERENT = 1
    WEAK = 2
    INITIAL = 3
    PHONETIC = 4
    SIMILAR = 5
    EXACT = 6


_NAME_CODES = {
    _Name.DIFFERENT: "different",
    _Name.INITIAL: "initial",
    _Name.PHONETIC: "phonetic",
    _Name.SIMILAR: "similar",
    _Name.EXACT: "exact",
}


def _token_subset(a: list[str], b: list[str]) -> bool:
    """One name's tokens all inside the other's ("garcia" / "garcia lopez")."""
    small, large = (set(a), set(b)) if len(a) <= len(b) else (set(b), set(a))
    return small < large and any(len(t) >= 3 for t in small)


def _glued_particles(a: str, b: str) -> bool:
    """ "delacruz" / "cruz": the longer is the shorter after particles written as one word."""
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) < 4 or not long.endswith(short) or long == short:
        return False
    prefix = long[: -len(short)]
    return _splits_into_particles(prefix)


def _splits_into_particles(text: str) -> bool:
    if not text:
        return True
    return any(
        text.startswith(p) and _splits_into_particles(text[len(p) :]) for p in NAME_PARTICLES
    )


def _compare_names(
    a: str | None, b: str | None, a_code: str | None, b_code: str | None, *, first: bool
) -> _Name:
    if not a or not b:
        return _Name.MISSING
    ca, cb = _compact(a), _compact(b)
    if ca == cb:
        return _Name.EXACT
    tokens_a, tokens_b = a.split(), b.split()
    if _token_subset(tokens_a, tokens_b) or (not first and _glued_particles(ca, cb)):
        return _Name.SIMILAR
    jw = jaro_winkler(ca, cb)
    if jw >= SIMILAR_JW:
        return _Name.SIMILAR
    if a_code and a_code == b_code:
        return _Name.PHONETIC
    if first and (len(tokens_a[0]) == 1 or len(tokens_b[0]) == 1):
        if tokens_a[0][0] == tokens_b[0][0]:
            return _Name.INITIAL
    if jw < DIFFERENT_JW:
        return _Name.DIFFERENT
    return _Name.WEAK


@dataclass(frozen=True)
class MatchScore:
    """A pair's score in [0, 1], with short evidence and conflict codes (no personal data)."""

    score: float
    evidence: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()


_NO_MATCH = MatchScore(0.0)


def score_pair(incoming: PersonFeatures, known: PersonFeatures) -> MatchScore:
    """Score how likely two feature sets describe the same person (weights: module doc)."""
    if incoming.is_empty or known.is_empty:
        return _NO_MATCH
    evidence: list[str] = []
    last = _compare_names(
        incoming.last, known.last, incoming.last_code, known.last_code, first=False
    )
    first = _compare_names(
        incoming.first, known.first, incoming.first_code, known.first_code, first=True
    )
    swapped_names = _names_swapped(incoming, known, last, first)
    full_name = last is _Name.EXACT and first is _Name.EXACT
    points = _name_points(last, first, full_name, swapped_names, evidence)

    dob = dob_agreement(incoming.dob, known.dob)
    points += DOB_POINTS[dob]
    if dob in DOB_EVIDENCE:
        evidence.append(DOB_EVIDENCE[dob])
    phone_same = incoming.phone is not None and incoming.phone == known.phone
    points += _contact_points(incoming, known, phone_same, evidence)

    names_agree = swapped_names or (last >= _Name.PHONETIC and first >= _Name.PHONETIC)
    conflicts = _conflicts(last, first, dob, names_agree, phone_same, swapped_names)
    dob_exact = dob is DobAgreement.EXACT
    strong = (full_name and dob_exact) or (phone_same and (dob_exact or full_name))
    points = max(0, min(points, _MAX_POINTS if strong else _SOFT_CAP_POINTS))
    return MatchScore(points / _MAX_POINTS, tuple(evidence), tuple(conflicts))


def _names_swapped(a: PersonFeatures, b: PersonFeatures, last: _Name, first: _Name) -> bool:
    """First and last name written the other way round."""
    return (
        last < _Name.PHONETIC
        and first < _Name.PHONETIC
        and a.first is not None
        and a.last is not None
        and b.first is not None
        and b.last is not None
        and _compact(a.first) == _compact(b.last)
        and _compact(a.last) == _compact(b.first)
    )


def _name_points(
    last: _Name, first: _Name, full_name: bool, swapped: bool, evidence: list[str]
) -> int:
    if full_name:
        evidence.append("name_exact")
        return LAST_POINTS["exact"] + FIRST_POINTS["exact"]
    if swapped:
        evidence.append("names_swapped")
        return NAMES_SWAPPED_POINTS
    points = 0
    for part, level, table in (("last", last, LAST_POINTS), ("first", first, FIRST_POINTS)):
        code = _NAME_CODES.get(level)
        if code is not None:
            evidence.append(f"{part}_{code}")
            points += table[code]
    return points


def _contact_points(
    a: PersonFeatures, b: PersonFeatures, phone_same: bool, evidence: list[str]
) -> int:
    """Phone, ZIP and street."""
    points = 0
    if phone_same:
        evidence.append("phone_same")
        points += PHONE_POINTS
    elif a.phone is not None and b.phone is not None:
        evidence.append("phone_different")
    zips_apart = a.zip is not None and b.zip is not None and a.zip != b.zip
    if a.zip is not None and a.zip == b.zip:
        evidence.append("zip_same")
        points += ZIP_POINTS
    if a.street is not None and a.street == b.street and not zips_apart:
        evidence.append("street_same")
        points += STREET_POINTS
    return points


def _conflicts(
    last: _Name,
    first: _Name,
    dob: DobAgreement,
    names_agree: bool,
    phone_same: bool,
    swapped: bool,
) -> list[str]:
    conflicts = []
    if dob is DobAgreement.DIFFERENT and (names_agree or phone_same):
        conflicts.append("dob_conflict")
    if phone_same and not swapped and _Name.DIFFERENT in (last, first):
        conflicts.append("phone_shared_other_name")
    dob_close = dob in (
        DobAgreement.EXACT,
        DobAgreement.DAY_MONTH_SWAPPED,
        DobAgreement.ONE_DIGIT_SLIP,
    )
    if first is _Name.DIFFERENT and last >= _Name.PHONETIC and dob_close:
        conflicts.append("first_name_conflict")
    return conflicts


# --- decision ---------------------------------------------------------------------------


class Decision(StrEnum):
    LINK = "link"
    REVIEW = "review"
    NEW = "new"


@dataclass(frozen=True)
class Thresholds:
    """Score thresholds; the defaults are argued in the module docstring.

    auto_link must stay above `SOFT_CAP`, so that only a strong pair can link.
    """

    auto_link: float = 0.85
    review: float = 0.40

    def __post_init__(self) -> None:
        if not 0.0 < self.review < self.auto_link <= 1.0:
            raise ValueError("thresholds need 0 < review < auto_link <= 1")
        if self.auto_link <= SOFT_CAP:
            raise ValueError(
                f"auto_link must be above {SOFT_CAP}: below it, soft evidence alone would link"
            )


DEFAULT_THRESHOLDS = Thresholds()


def decide(score: MatchScore, t: Thresholds = DEFAULT_THRESHOLDS) -> Decision:
    """Any conflict -> review (never link); else by the thresholds."""
    if score.conflicts:
        return Decision.REVIEW
    if score.score >= t.auto_link:
        return Decision.LINK
    if score.score >= t.review:
        return Decision.REVIEW
    return Decision.NEW


_RANK = {Decision.LINK: 2, Decision.REVIEW: 1, Decision.NEW: 0}


def best_match(
    incoming: PersonFeatures,
    candidates: Sequence[tuple[str, PersonFeatures]],
    t: Thresholds = DEFAULT_THRESHOLDS,
) -> tuple[Decision, str | None, MatchScore | None]:
    """The decision for one report against its blocked candidates.

    The chosen candidate is the one with the strongest decision (link, then review,
    so a low-scoring conflict is never hidden behind a higher-scoring `new`), then
    the highest score, then the smallest id (deterministic). If two different
    candidates reach `auto_link`, the answer is review (ambiguous), never link.
    `new` comes with no id but with the nearest candidate's score (None when there
    was nothing to compare).
    """
    if incoming.is_empty or not candidates:
        return Decision.NEW, None, None
    ranked: list[tuple[int, float, str, Decision, MatchScore]] = []
    for candidate_id, features in candidates:
        score = score_pair(incoming, features)
        decision = decide(score, t)
        ranked.append((-_RANK[decision], -score.score, candidate_id, decision, score))
    _, _, best_id, decision, best = min(ranked, key=lambda r: (r[0], r[1], r[2]))
    if decision is Decision.NEW:
        return Decision.NEW, None, best
    at_link = {r[2] for r in ranked if r[4].score >= t.auto_link}
    if decision is Decision.LINK and len(at_link) > 1:
        return Decision.REVIEW, best_id, best
    return decision, best_id, best

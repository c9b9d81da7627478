"""Identity matching: normalisation, similarity, blocking, scoring and decisions."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.overdose_event import Address, Patient
from services.identity.blocking import blocking_keys, index_kind
from services.identity.matching import (
    SOFT_CAP,
    Decision,
    MatchScore,
    PersonFeatures,
    Thresholds,
    best_match,
    decide,
    features_from_patient,
    score_pair,
)
from services.identity.normalize import (
    normalize_name,
    normalize_phone,
    normalize_street,
    normalize_zip,
    phonetic,
)
from services.identity.similarity import DobAgreement, dob_agreement, jaro_winkler, swap_day_month

T = Thresholds()


def person(**fields: Any) -> PersonFeatures:
    address = fields.pop("address", None)
    zip_code = fields.pop("zip", None)
    if address is not None or zip_code is not None:
        fields["address"] = Address(address=address, zip=zip_code)
    return features_from_patient(Patient(**fields))


def john_smith(**changes: Any) -> PersonFeatures:
    fields: dict[str, Any] = {"first_name": "John", "last_name": "Smith", "dob": date(1990, 2, 1)}
    fields.update(changes)
    return person(**fields)


def outcome(a: PersonFeatures, b: PersonFeatures) -> Decision:
    return decide(score_pair(a, b), T)


# --- normalize_name -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("John", "john"),
        ("  SMITH  ", "smith"),
        ("john  SMITH", "john smith"),
        ("María", "maria"),
        ("Zoë Ångström", "zoe angstrom"),
        ("Søren Łukasz", "soren lukasz"),
        ("Straße", "strasse"),
        ("Mary-Ann", "mary ann"),
        ("O'Brien", "o brien"),
        ("J.R.", "j r"),
        ("de la Cruz", "cruz"),
        ("Maria de la Cruz", "maria cruz"),
        ("Van der Berg", "berg"),
        ("von Trapp", "trapp"),
        ("Da Silva", "silva"),
        ("Di Maria", "maria"),
        ("Du Bois", "bois"),
        ("Le Blanc", "blanc"),
        ("St. John", "john"),
        ("Saint-Pierre", "pierre"),
        ("Smith Jr.", "smith"),
        ("Smith, Sr", "smith"),
        ("Henry VIII", "henry viii"),
        ("John Smith III", "john smith"),
        ("Gates IV", "gates"),
        ("Smith II", "smith"),
    ],
)
def test_normalize_name(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


@pytest.mark.parametrize("whole", ["Le", "De", "St", "Saint", "Jr", "de la", "Van"])
def test_a_particle_or_suffix_that_is_the_whole_name_is_kept(whole: str) -> None:
    assert normalize_name(whole) == whole.casefold()


@pytest.mark.parametrize("raw", [None, "", "   ", "---", "123", "'."])
def test_normalize_name_of_nothing_is_empty(raw: str | None) -> None:
    assert normalize_name(raw) == ""


@given(st.text(max_size=40))
@settings(max_examples=500, deadline=None)
def test_normalize_name_is_idempotent(raw: str) -> None:
    once = normalize_name(raw)
    assert normalize_name(once) == once
    assert once == once.strip() and "  " not in once


# --- normalize_phone ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "(304) 555-0142",
        "304.555.0142",
        "304-555-0142",
        "3045550142",
        "1-304-555-0142",
        "1 (304) 555-0142",
        "+1 304 555 0142",
        "+13045550142",
        "304/555-0142",
        "(304) 555-0142 ext. 12",
        "304-555-0142 x12",
    ],
)
def test_north_american_numbers_become_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+13045550142"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+44 20 7946 0958", "+442079460958"),
        ("+52 55 1234 5678", "+525512345678"),
        ("011 44 20 7946 0958", "+442079460958"),
        ("+49 30 12345678", "+493012345678"),
    ],
)
def test_other_countries_with_a_plus_are_kept_as_digits(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "555-0142",  # 7 digits: no area code
        "104-555-0142",  # area code cannot start with 1
        "304-155-0142",  # exchange cannot start with 1
        "911-555-0142",  # N11 area code
        "999-999-9999",  # placeholder
        "000-000-0000",
        "2-304-555-0142",  # 11 digits not starting with 1
        "+1 304 555 014",  # country code 1 needs 10 more digits
        "+0 123 456 789",
        "+12",
        "+1234567890123456",  # more than 15 digits
        "unknown",
        "304-555-0142 call after 5",
        "30+4 555 0142",
    ],
)
def test_anything_else_is_not_a_phone(raw: str | None) -> None:
    assert normalize_phone(raw) is None


def test_default_country_reads_national_numbers() -> None:
    assert normalize_phone("020 7946 0958", default_country="44") == "+442079460958"
    assert normalize_phone("+1 304 555 0142", default_country="44") == "+13045550142"
    with pytest.raises(ValueError):
        normalize_phone("304 555 0142", default_country="+1")


# --- normalize_zip, normalize_street -------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("25701", "25701"),
        ("25701-1234", "25701"),
        (" 25701 1234 ", "25701"),
        ("257011234", "25701"),
        ("2570", None),
        ("ABCDE", None),
        ("00000", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_zip(raw: str | None, expected: str | None) -> None:
    assert normalize_zip(raw) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("123 Main Street", "123 main st."),
        ("5 Oak Avenue", "5 OAK AVE"),
        ("9 Sunset Boulevard", "9 sunset blvd"),
        ("1 Mill Road", "1 Mill Rd"),
        ("2 Hill Drive", "2 hill dr"),
        ("3 Pine Lane", "3 pine ln"),
        ("4 King Court", "4 king ct"),
        ("6 Elm Place", "6 elm pl"),
        ("10 North Main", "10 N. Main"),
        ("10 South Main", "10 S Main"),
        ("10 East Main", "10 E Main"),
        ("10 West Main", "10 W. Main"),
        ("7 Oak St, Apartment 4", "7 oak st apt 4"),
        ("7 Oak St Apt. #4", "7 oak st apt 4"),
        ("7 Oak St Unit 4", "7 oak st #4"),
        ("12 Rue Émile", "12 rue emile"),
    ],
)
def test_normalize_street_unifies_spellings(a: str, b: str) -> None:
    assert normalize_street(a) == normalize_street(b)


def test_normalize_street_output() -> None:
    assert normalize_street("123 North Main Street, Apt. #4") == "123 n main st apt 4"
    assert normalize_street(None) == ""
    assert normalize_street("12 Main St") != normalize_street("14 Main St")


# --- phonetic -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"), [("Jon", "John"), ("Smyth", "Smith"), ("Catherine", "Kathryn")]
)
def test_spelling_variants_share_a_code(a: str, b: str) -> None:
    assert phonetic(a) == phonetic(b) != ""


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Smith", "SM0"),
        ("John", "JN"),
        ("Schmidt", "XMT"),
        ("Michael", "MKL"),
        ("Xavier", "SF"),
        ("Jose", "HS"),
        ("Knight", "NT"),
        ("Caesar", "SSR"),
        ("Edge", "AJ"),
        ("Campbell", "KMPL"),
        ("Garcia", "KRS"),
        ("Thomas", "TMS"),
        ("Laugh", "LF"),
        ("Hugh", "H"),
        ("Wright", "RT"),
        ("Sugar", "XKR"),
        ("Island", "ALNT"),
        ("Chianti", "KNT"),
        ("Czerny", "SRN"),
        ("Ghislaine", "JLN"),
        ("Gonzalez", "KNSLS"),  # no 4-character cap
    ],
)
def test_phonetic_reference_codes(name: str, code: str) -> None:
    assert phonetic(name) == code


def test_phonetic_codes_each_token() -> None:
    assert phonetic("Jon Smyth") == "JN SM0"
    assert phonetic("maria cruz") == "MR KRS"
    assert phonetic("Maria de la Cruz") == "MR KRS"  # normalised first
    assert phonetic("Smith") != phonetic("Jones")
    assert phonetic("") == phonetic(None) == ""


@given(st.text(max_size=30))
@settings(max_examples=300, deadline=None)
def test_phonetic_never_fails_and_is_clean(raw: str) -> None:
    code = phonetic(raw)
    assert re.fullmatch(r"(?:[A-Z0]+(?: [A-Z0]+)*)?", code)
    assert code == phonetic(normalize_name(raw))


# --- similarity ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("MARTHA", "MARHTA", 0.9611),
        ("DWAYNE", "DUANE", 0.84),
        ("DIXON", "DICKSONX", 0.8133),
        ("jon", "john", 0.9333),
        ("smyth", "smith", 0.8933),
    ],
)
def test_jaro_winkler_reference_values(a: str, b: str, expected: float) -> None:
    assert jaro_winkler(a, b) == pytest.approx(expected, abs=1e-4)


def test_jaro_winkler_edges() -> None:
    assert jaro_winkler("smith", "smith") == 1.0
    assert jaro_winkler("", "") == 1.0
    assert jaro_winkler("", "smith") == 0.0
    assert jaro_winkler("abc", "xyz") == 0.0


@given(st.text(max_size=12), st.text(max_size=12))
@settings(max_examples=500, deadline=None)
def test_jaro_winkler_is_symmetric_and_bounded(a: str, b: str) -> None:
    value = jaro_winkler(a, b)
    assert value == jaro_winkler(b, a)
    assert 0.0 <= value <= 1.0
    assert (value == 1.0) == (a == b)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (date(1990, 2, 1), date(1990, 2, 1), DobAgreement.EXACT),
        (date(1990, 2, 1), date(1990, 1, 2), DobAgreement.DAY_MONTH_SWAPPED),
        (date(1990, 2, 1), date(1991, 2, 1), DobAgreement.ONE_DIGIT_SLIP),
        (date(1990, 2, 1), date(1990, 2, 7), DobAgreement.ONE_DIGIT_SLIP),
        (date(1990, 2, 1), date(1980, 2, 1), DobAgreement.ONE_DIGIT_SLIP),
        (date(1990, 2, 1), None, DobAgreement.MISSING),
        (None, None, DobAgreement.MISSING),
        (date(1990, 2, 1), date(1975, 7, 30), DobAgreement.DIFFERENT),
        (date(1990, 2, 1), date(1990, 2, 12), DobAgreement.DIFFERENT),  # two digits
        (date(1990, 1, 2), date(1991, 2, 1), DobAgreement.DIFFERENT),  # swap and slip
    ],
)
def test_dob_agreement(a: date | None, b: date | None, expected: DobAgreement) -> None:
    assert dob_agreement(a, b) is expected
    assert dob_agreement(b, a) is expected


def test_swap_day_month() -> None:
    assert swap_day_month(date(1990, 1, 2)) == date(1990, 2, 1)
    assert swap_day_month(date(1990, 3, 3)) is None
    assert swap_day_month(date(1990, 1, 13)) is None


# --- features -----------------------------------------------------------------------------


def test_features_from_patient() -> None:
    f = person(
        first_name="María-José",
        last_name="de la Cruz",
        dob=date(1984, 6, 9),
        phone="(304) 555-0142",
        address="12 North Main Street",
        zip="25701-1234",
    )
    assert f == PersonFeatures(
        first="maria jose",
        last="cruz",
        first_code="MR HS",
        last_code="KRS",
        dob=date(1984, 6, 9),
        phone="+13045550142",
        zip="25701",
        street="12 n main st",
    )
    assert not f.is_empty


def test_features_of_nothing_are_empty() -> None:
    assert features_from_patient(None) == PersonFeatures()
    assert features_from_patient(None).is_empty
    assert person().is_empty
    assert person(address="12 Main St", zip="25701", sex="F").is_empty
    assert person(first_name="--", phone="unknown").is_empty
    assert not person(first_name="John").is_empty
    assert not person(dob=date(1990, 2, 1)).is_empty
    assert not person(phone="3045550142").is_empty


@pytest.mark.parametrize("placeholder", [date(1900, 1, 1), date(1899, 12, 31), date(1800, 1, 1)])
def test_placeholder_dobs_count_as_missing(placeholder: date) -> None:
    assert john_smith(dob=placeholder).dob is None
    assert john_smith(dob=date(1900, 1, 2)).dob == date(1900, 1, 2)


def test_features_never_show_personal_data_in_repr() -> None:
    f = person(first_name="Zebulon", last_name="Quackenbush", phone="3045550142", zip="25701")
    shown = repr(f) + str(f)
    for secret in ("zebulon", "quackenbush", "3045550142", "25701", "KKNP"):
        assert secret not in shown.casefold() and secret not in shown
    assert "first" in shown and "phone" in shown


# --- blocking -----------------------------------------------------------------------------


def test_blocking_keys_for_full_features() -> None:
    f = john_smith(phone="304-555-0142", zip="25701")
    assert blocking_keys(f) == [
        ("name_dob", "smith|john|1990-02-01"),
        ("phone", "+13045550142"),
        ("codes", "SM0|JN"),
        ("last_code_dob", "SM0|1990-02-01"),
        ("dob_zip", "1990-02-01|25701"),
        ("last_code_dob_swapped", "SM0|1990-01-02"),
    ]


def test_blocking_keys_need_all_their_parts() -> None:
    assert blocking_keys(PersonFeatures()) == []
    assert blocking_keys(person(last_name="Smith")) == []
    assert blocking_keys(person(phone="3045550142")) == [("phone", "+13045550142")]
    assert [k for k, _ in blocking_keys(person(last_name="Smith", dob=date(1990, 1, 13)))] == [
        "last_code_dob"  # day 13: no swapped variant
    ]
    assert [k for k, _ in blocking_keys(person(dob=date(1990, 2, 1), zip="25701"))] == ["dob_zip"]
    assert [k for k, _ in blocking_keys(person(first_name="John", last_name="Smith"))] == ["codes"]


def _index(f: PersonFeatures) -> set[tuple[str, str]]:
    return {(index_kind(kind), value) for kind, value in blocking_keys(f)}


def test_swapped_dob_key_meets_the_stored_last_code_dob() -> None:
    incoming = person(first_name="Jon", last_name="Smyth", dob=date(1990, 1, 2))
    known = john_smith()
    assert index_kind("last_code_dob_swapped") == "last_code_dob"
    assert index_kind("phone") == "phone"
    assert ("last_code_dob", "SM0|1990-02-01") in _index(incoming) & _index(known)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (person(first_name="Jon", last_name="Smyth", dob=date(1990, 1, 2)), john_smith()),
        (john_smith(), person(first_name="john ", last_name=" SMITH", dob=date(1990, 2, 1))),
        (
            person(first_name="Maria", last_name="de la Cruz", dob=date(1990, 2, 1)),
            person(first_name="María", last_name="Cruz", dob=date(1990, 2, 1)),
        ),
        (
            person(phone="(304) 555-0142", dob=date(1990, 2, 1)),
            person(phone="+13045550142", dob=date(1990, 2, 1)),
        ),
        (john_smith(), john_smith(dob=date(1975, 7, 30))),
    ],
)
def test_required_pairs_share_a_blocking_key(a: PersonFeatures, b: PersonFeatures) -> None:
    assert _index(a) & _index(b)


# --- score_pair and decide: the required outcomes ----------------------------------------


def test_jon_smyth_with_swapped_dob_goes_to_review() -> None:
    incoming = person(first_name="Jon", last_name="Smyth", dob=date(1990, 1, 2))
    score = score_pair(incoming, john_smith())
    assert score.evidence == ("last_phonetic", "first_similar", "dob_swapped")
    assert score.conflicts == ()
    assert T.review <= score.score < T.auto_link
    assert decide(score, T) is Decision.REVIEW


def test_same_name_other_spacing_and_case_links() -> None:
    score = score_pair(
        john_smith(), person(first_name="john ", last_name=" SMITH", dob=date(1990, 2, 1))
    )
    assert score == MatchScore(0.85, ("name_exact", "dob_exact"), ())
    assert decide(score, T) is Decision.LINK


def test_particles_and_accents_link() -> None:
    a = person(first_name="Maria", last_name="de la Cruz", dob=date(1990, 2, 1))
    b = person(first_name="María", last_name="Cruz", dob=date(1990, 2, 1))
    assert outcome(a, b) is Decision.LINK


def test_same_phone_in_two_formats_and_same_dob_links() -> None:
    a = person(phone="(304) 555-0142", dob=date(1990, 2, 1))
    b = person(phone="+13045550142", dob=date(1990, 2, 1))
    score = score_pair(a, b)
    assert score.score >= T.auto_link and not score.conflicts
    assert outcome(a, b) is Decision.LINK
    assert outcome(john_smith(phone="(304) 555-0142"), john_smith(phone="+13045550142")) is (
        Decision.LINK
    )


def test_same_name_two_dobs_is_a_conflict_for_review() -> None:
    score = score_pair(john_smith(), john_smith(dob=date(1975, 7, 30)))
    assert score.conflicts == ("dob_conflict",)
    assert decide(score, T) is Decision.REVIEW


def test_completely_different_people_are_new() -> None:
    other = person(
        first_name="Mary", last_name="Jones", dob=date(1962, 11, 23), phone="681-555-0199"
    )
    score = score_pair(john_smith(phone="304-555-0142"), other)
    assert score.score == 0.0 and score.conflicts == ()
    assert decide(score, T) is Decision.NEW


def test_empty_features_are_new() -> None:
    assert score_pair(PersonFeatures(), john_smith()) == MatchScore(0.0)
    assert score_pair(john_smith(), PersonFeatures()) == MatchScore(0.0)
    assert outcome(PersonFeatures(), PersonFeatures()) is Decision.NEW
    assert best_match(PersonFeatures(), [("p1", PersonFeatures())], T) == (Decision.NEW, None, None)


# --- score_pair: other evidence and conflicts ----------------------------------------------


def test_same_phone_different_dob_is_a_conflict() -> None:
    a = person(phone="3045550142", dob=date(1990, 2, 1))
    b = person(phone="+1 304 555 0142", dob=date(1962, 11, 23))
    score = score_pair(a, b)
    assert "dob_conflict" in score.conflicts
    assert decide(score, T) is Decision.REVIEW


def test_same_phone_other_name_is_a_conflict_even_with_the_same_dob() -> None:
    a = john_smith(phone="3045550142")
    b = person(first_name="Mary", last_name="Jones", dob=date(1990, 2, 1), phone="3045550142")
    score = score_pair(a, b)
    assert score.score == pytest.approx(0.60)  # 45 + 40 - 15 - 10
    assert score.conflicts == ("phone_shared_other_name",)
    assert decide(score, T) is Decision.REVIEW


def test_twins_never_link() -> None:
    jim = john_smith(first_name="Jim", phone="3045550142", address="1 Oak St", zip="25701")
    john = john_smith(phone="3045550142", address="1 Oak St", zip="25701")
    score = score_pair(jim, john)
    assert score.score >= T.auto_link  # phone + DOB is a strong pair, yet ...
    assert score.conflicts == ("phone_shared_other_name", "first_name_conflict")
    assert decide(score, T) is Decision.REVIEW
    # Similar first names with the same DOB and address: soft evidence, capped below link.
    jan = john_smith(first_name="Jan", address="1 Oak St", zip="25701")
    jon = john_smith(first_name="Jon", address="1 Oak St", zip="25701")
    assert score_pair(jan, jon).score <= SOFT_CAP
    assert outcome(jan, jon) is Decision.REVIEW


def test_soft_evidence_is_capped_below_auto_link() -> None:
    a = john_smith(first_name="Jon", address="1 Oak St", zip="25701")
    b = john_smith(address="1 Oak Street", zip="25701")
    score = score_pair(a, b)
    assert score.evidence == ("last_exact", "first_similar", "dob_exact", "zip_same", "street_same")
    assert score.score == SOFT_CAP
    assert decide(score, T) is Decision.REVIEW


def test_names_swapped_between_fields_is_review() -> None:
    swapped = person(first_name="Smith", last_name="John", dob=date(1990, 2, 1))
    score = score_pair(swapped, john_smith())
    assert score.evidence == ("names_swapped", "dob_exact")
    assert decide(score, T) is Decision.REVIEW


def test_initial_and_double_surname() -> None:
    score = score_pair(
        person(first_name="J.", last_name="Smith"), person(first_name="John", last_name="Smith")
    )
    assert score.evidence == ("last_exact", "first_initial")
    double = score_pair(
        person(first_name="Ana", last_name="Garcia Lopez", dob=date(1990, 2, 1)),
        person(first_name="Ana", last_name="Garcia", dob=date(1990, 2, 1)),
    )
    assert double.evidence == ("last_similar", "first_exact", "dob_exact")
    assert decide(double, T) is Decision.REVIEW
    glued = score_pair(person(last_name="DelaCruz"), person(last_name="Cruz"))
    assert glued.evidence == ("last_similar",)


def test_name_and_dob_variants_alone_go_to_review() -> None:
    for dob in (date(1990, 1, 2), date(1991, 2, 1)):  # swapped, one digit slipped
        assert outcome(john_smith(dob=dob), john_smith()) is Decision.REVIEW
    assert outcome(john_smith(dob=None), john_smith()) is Decision.REVIEW  # name only
    assert outcome(person(phone="3045550142"), john_smith(phone="3045550142")) is Decision.REVIEW


def test_a_shared_dob_or_zip_alone_is_new() -> None:
    a = person(first_name="Mary", last_name="Jones", dob=date(1990, 2, 1), zip="25701")
    assert outcome(a, john_smith(zip="25701")) is Decision.NEW


def test_address_evidence() -> None:
    a = john_smith(address="1 Oak St", zip="25701")
    moved = john_smith(address="1 Oak St", zip="25702")
    assert score_pair(a, john_smith(address="1 Oak Street", zip="25701")).evidence[-2:] == (
        "zip_same",
        "street_same",
    )
    assert "street_same" not in score_pair(a, moved).evidence  # same line, other town
    assert (
        "phone_different"
        in score_pair(john_smith(phone="3045550142"), john_smith(phone="3045550143")).evidence
    )
    assert outcome(john_smith(phone="3045550142"), john_smith(phone="3045550143")) is Decision.LINK


# --- decide, thresholds ---------------------------------------------------------------------


def test_decide_by_thresholds() -> None:
    assert decide(MatchScore(0.85), T) is Decision.LINK
    assert decide(MatchScore(1.0), T) is Decision.LINK
    assert decide(MatchScore(0.84), T) is Decision.REVIEW
    assert decide(MatchScore(0.40), T) is Decision.REVIEW
    assert decide(MatchScore(0.39), T) is Decision.NEW
    assert decide(MatchScore(0.5), Thresholds(auto_link=0.95, review=0.6)) is Decision.NEW


def test_any_conflict_is_review() -> None:
    assert decide(MatchScore(1.0, (), ("dob_conflict",)), T) is Decision.REVIEW
    assert decide(MatchScore(0.0, (), ("phone_shared_other_name",)), T) is Decision.REVIEW


@pytest.mark.parametrize(
    ("auto_link", "review"), [(0.8, 0.4), (0.5, 0.4), (0.9, 0.9), (0.9, 0.0), (1.1, 0.4)]
)
def test_thresholds_are_checked(auto_link: float, review: float) -> None:
    with pytest.raises(ValueError):
        Thresholds(auto_link=auto_link, review=review)


# --- best_match -------------------------------------------------------------------------------


def test_best_match_links_the_one_strong_candidate() -> None:
    candidates = [
        ("p2", person(first_name="Mary", last_name="Jones", dob=date(1990, 2, 1))),
        ("p1", john_smith()),
        ("p3", john_smith(first_name="Jon", dob=None)),
    ]
    decision, chosen, score = best_match(john_smith(), candidates, T)
    assert (decision, chosen) == (Decision.LINK, "p1")
    assert score is not None and score.score >= T.auto_link


def test_two_candidates_at_auto_link_are_ambiguous() -> None:
    candidates = [("p9", john_smith()), ("p1", john_smith(phone="3045550142"))]
    decision, chosen, _ = best_match(john_smith(phone="3045550142"), candidates, T)
    assert (decision, chosen) == (Decision.REVIEW, "p1")  # the higher score, still review


def test_ties_break_by_candidate_id() -> None:
    same = john_smith()
    for order in ([("b", same), ("a", same)], [("a", same), ("b", same)]):
        assert best_match(john_smith(dob=None), order, T)[:2] == (Decision.REVIEW, "a")


def test_a_conflict_is_not_hidden_behind_a_higher_scoring_new() -> None:
    conflicting = john_smith(dob=date(1975, 7, 30))  # score 0.20, but a conflict
    stranger = person(first_name="Mary", last_name="Jones", dob=date(1990, 2, 1), zip="25701")
    candidates = [("a", stranger), ("b", conflicting)]
    decision, chosen, score = best_match(john_smith(zip="25701"), candidates, T)
    assert (decision, chosen) == (Decision.REVIEW, "b")
    assert score is not None and score.conflicts == ("dob_conflict",)


def test_best_match_new() -> None:
    stranger = person(first_name="Mary", last_name="Jones", dob=date(1962, 11, 23))
    decision, chosen, score = best_match(john_smith(), [("a", stranger)], T)
    assert (decision, chosen) == (Decision.NEW, None)
    assert score is not None and score.score == 0.0
    assert best_match(john_smith(), [], T) == (Decision.NEW, None, None)


# --- properties ---------------------------------------------------------------------------

_NAMES = ["John", "Jon", "Jan", "Jim", "J.", "Smith", "Smyth", "Maria", "María", "de la Cruz"]
_NAMES += ["Cruz", "O'Brien", "OBrien", "Garcia Lopez", "Garcia", "Jones", "Mary"]
_DOBS = [date(1990, 2, 1), date(1990, 1, 2), date(1991, 2, 1), date(1975, 7, 30), date(1900, 1, 1)]
_PHONES = ["(304) 555-0142", "+13045550142", "304-555-0199", "+44 20 7946 0958", "unknown"]

# any text the contract takes: no control characters (schemas/overdose_event.py refuses them)
_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=12)
names = st.one_of(st.none(), st.sampled_from(_NAMES), _TEXT)
dobs = st.one_of(
    st.none(),
    st.sampled_from(_DOBS),
    st.dates(min_value=date(1899, 1, 1), max_value=date(2025, 1, 1)),
)
phones = st.one_of(st.none(), st.sampled_from(_PHONES))
addresses = st.one_of(
    st.none(),
    st.builds(
        Address,
        address=st.sampled_from(["1 Oak St", "1 Oak Street", "9 Elm Ave"]),
        zip=st.sampled_from(["25701", "25702", "25701-1234"]),
    ),
)
patients = st.builds(
    Patient, first_name=names, last_name=names, dob=dobs, phone=phones, address=addresses
)
features = patients.map(features_from_patient)


@given(features, features)
@settings(max_examples=800, deadline=None)
def test_score_pair_is_symmetric_and_bounded(a: PersonFeatures, b: PersonFeatures) -> None:
    forward, backward = score_pair(a, b), score_pair(b, a)
    assert forward == backward
    assert 0.0 <= forward.score <= 1.0


@given(features, features)
@settings(max_examples=800, deadline=None)
def test_decide_never_links_a_conflict(a: PersonFeatures, b: PersonFeatures) -> None:
    score = score_pair(a, b)
    decision = decide(score, T)
    if score.conflicts:
        assert decision is Decision.REVIEW
    if decision is Decision.LINK:
        assert not score.conflicts
        assert {"dob_exact", "phone_same", "name_exact"} & set(score.evidence)


@given(features, features)
@settings(max_examples=800, deadline=None)
def test_every_link_shares_a_blocking_key(a: PersonFeatures, b: PersonFeatures) -> None:
    if decide(score_pair(a, b), T) is Decision.LINK:
        assert _index(a) & _index(b)


@given(features)
@settings(max_examples=300, deadline=None)
def test_a_person_links_to_itself_or_has_little_to_go_on(f: PersonFeatures) -> None:
    assert len(blocking_keys(f)) <= 8
    decision = decide(score_pair(f, f), T)
    strong = f.dob is not None and (f.phone is not None or (f.first and f.last))
    if strong:
        assert decision is Decision.LINK
    if f.is_empty:
        assert decision is Decision.NEW


@given(
    st.floats(min_value=0.0, max_value=1.0),
    st.lists(st.sampled_from(["dob_conflict", "phone_shared_other_name"]), min_size=1),
)
def test_decide_never_links_with_any_conflict(value: float, conflicts: list[str]) -> None:
    assert decide(MatchScore(value, (), tuple(conflicts)), T) is Decision.REVIEW

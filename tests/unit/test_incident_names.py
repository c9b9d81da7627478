"""Two reports of one scene: could the people they name be one person? (pure)"""

from __future__ import annotations

from typing import Any

import pytest

from schemas.overdose_event import Patient
from services.identity.incident import could_be_one_person, nickname_of
from services.identity.matching import PersonFeatures, features_from_patient


def person(first: str | None, last: str | None, dob: str | None = "1987-03-14") -> PersonFeatures:
    fields: dict[str, Any] = {"first_name": first, "last_name": last, "dob": dob}
    return features_from_patient(Patient.model_validate(fields))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("Zebulon", "Quarrington"), ("Zeb", "Quarington")),  # prefix, one letter dropped
        (("William", "Okafor"), ("Bill", "Okafor")),  # nickname
        (("Bill", "Okafor"), ("Will", "Okafor")),  # two short forms of one name
        (("Katherine", "Smith"), ("Catherine", "Smyth")),  # phonetic / near spellings
        (("José", "García López"), ("Jose", "Garcia")),  # accents, one surname inside the other
    ],
)
def test_the_same_person_reported_twice(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert could_be_one_person(person(*a), person(*b))
    assert could_be_one_person(person(*b), person(*a)), "symmetric"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("Zebulon", "Quarrington", "1987-03-14"), ("Zeb", "Quarington", "1987-03-15")),
        (("Zebulon", "Quarrington", "1987-03-14"), ("Zeb", "Quarington", None)),
        (("Dana", "Okafor", "1987-03-14"), ("Lee", "Okafor", "1987-03-14")),  # a sibling
        (("Jo", "Okafor", "1987-03-14"), ("John", "Okafor", "1987-03-14")),  # too short a prefix
        (("Alex", "Okafor", "1987-03-14"), ("Alex", "Brennan", "1987-03-14")),
        ((None, "Okafor", "1987-03-14"), ("Alex", "Okafor", "1987-03-14")),
    ],
)
def test_different_people_or_too_little_to_tell(
    a: tuple[str | None, str, str | None], b: tuple[str | None, str, str | None]
) -> None:
    assert not could_be_one_person(person(*a), person(*b))


def test_nicknames_are_not_the_name_itself() -> None:
    assert nickname_of("robert", "bob") and nickname_of("bob", "rob")
    assert not nickname_of("robert", "robert") and not nickname_of("robert", "william")

"""What a visit record may say beyond its result (Huntington's data-collection step):
how the team tried, what they left or gave, whom they met, and which needs and
barriers came up (a program's own words: `[program.visits]`, defaults below)."""

from __future__ import annotations

from enum import StrEnum


class VisitMethod(StrEnum):
    IN_PERSON = "in_person"
    PHONE = "phone"
    TEXT = "text"
    MATERIALS_LEFT = "materials_left"


class ServiceGiven(StrEnum):
    NALOXONE_KIT = "naloxone_kit"
    FENTANYL_TEST_STRIPS = "fentanyl_test_strips"
    HARM_REDUCTION_SUPPLIES = "harm_reduction_supplies"
    TREATMENT_INFO = "treatment_info"
    PEER_SUPPORT = "peer_support"
    FAMILY_SUPPORT = "family_support"
    OTHER = "other"


class PersonMet(StrEnum):
    CLIENT = "client"
    FAMILY = "family"
    FRIEND = "friend"
    NONE = "none"


# needs and barriers: one vocabulary, the program may replace it ([program.visits] needs)
DEFAULT_NEEDS = (
    "transportation",
    "housing",
    "insurance",
    "childcare",
    "cost",
    "waitlist",
    "legal",
    "phone",
    "other",
)
NOTES_MAX = 4000

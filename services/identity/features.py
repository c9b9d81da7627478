"""The normalised identifying features of one person, or of one report of them:
`features_from_patient` (names, their Double Metaphone codes, a plausible date of
birth, E.164 phone, 5-digit ZIP, street line; services/identity/normalize.py).
`PersonFeatures` never shows its values in `repr`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from schemas.overdose_event import Patient
from services.identity.normalize import (
    normalize_name,
    normalize_phone,
    normalize_street,
    normalize_zip,
    phonetic_of_normalized,
)

_FIRST_PLAUSIBLE_DOB = date(1900, 1, 2)  # 1900-01-01 and earlier: "unknown" placeholders


@dataclass(frozen=True, slots=True, repr=False)
class PersonFeatures:
    """The normalised identifying features of one person (or one report of them)."""

    first: str | None = None
    last: str | None = None
    first_code: str | None = None
    last_code: str | None = None
    dob: date | None = None
    phone: str | None = None
    zip: str | None = None
    street: str | None = None

    @property
    def is_empty(self) -> bool:
        """Nothing identifying: no names, no DOB, no phone (an address is not a person)."""
        return not (self.first or self.last or self.dob or self.phone)

    def __repr__(self) -> str:  # personal data never reaches a log through repr
        present = [
            name
            for name in ("first", "last", "dob", "phone", "zip", "street")
            if getattr(self, name) is not None
        ]
        return f"PersonFeatures(<redacted: {', '.join(present) or 'empty'}>)"


def _name_or_none(raw: str | None) -> str | None:
    return normalize_name(raw) or None


def _code_or_none(name: str | None) -> str | None:
    return (phonetic_of_normalized(name) or None) if name else None


NameMemo = dict[str | None, tuple[str | None, str | None]]


def _name_and_code(raw: str | None, memo: NameMemo | None) -> tuple[str | None, str | None]:
    """The normalised name and its phonetic code; looked up in `memo` when given (the
    same names recur within a batch of reports and the persons they are compared with)."""
    found = memo.get(raw) if memo is not None else None
    if found is None:
        name = _name_or_none(raw)
        found = (name, _code_or_none(name))
        if memo is not None:
            memo[raw] = found
    return found


def features_from_patient(patient: Patient | None, memo: NameMemo | None = None) -> PersonFeatures:
    """Normalised features of a report's patient; empty features for no patient. A caller
    deriving many may pass a `memo` (a dict it keeps, for a batch) of the names seen."""
    if patient is None:
        return PersonFeatures()
    first, first_code = _name_and_code(patient.first_name, memo)
    last, last_code = _name_and_code(patient.last_name, memo)
    dob = patient.dob if patient.dob is not None and patient.dob >= _FIRST_PLAUSIBLE_DOB else None
    address = patient.address
    return PersonFeatures(
        first=first,
        last=last,
        first_code=first_code,
        last_code=last_code,
        dob=dob,
        phone=normalize_phone(patient.phone),
        zip=normalize_zip(address.zip) if address else None,
        street=(normalize_street(address.address) or None) if address else None,
    )

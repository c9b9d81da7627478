"""Blocking: the plaintext keys a known person must share with a report to be compared
with it (at most 6), and those keys as blind-index tokens. See matching.py's module
docstring for why each key exists."""

from __future__ import annotations

from collections.abc import Callable

from services.identity.matching import PersonFeatures
from services.identity.similarity import swap_day_month

SWAPPED_DOB_KIND = "last_code_dob_swapped"
_INDEX_KIND = {SWAPPED_DOB_KIND: "last_code_dob"}


def index_kind(kind: str) -> str:
    """The blind-index kind to hash a blocking key under (the swapped DOB meets `last_code_dob`)."""
    return _INDEX_KIND.get(kind, kind)


def _compact(name: str) -> str:
    return name.replace(" ", "")


def blocking_keys(f: PersonFeatures) -> list[tuple[str, str]]:
    """Plaintext blocking keys; a key is emitted only when all its parts are present."""
    keys: list[tuple[str, str]] = []
    dob = f.dob.isoformat() if f.dob else None
    if f.last and f.first and dob:
        keys.append(("name_dob", f"{_compact(f.last)}|{_compact(f.first)}|{dob}"))
    if f.phone:
        keys.append(("phone", f.phone))
    if f.last_code and f.first_code:
        keys.append(("codes", f"{f.last_code}|{f.first_code}"))
    if f.last_code and dob:
        keys.append(("last_code_dob", f"{f.last_code}|{dob}"))
    if dob and f.zip:
        keys.append(("dob_zip", f"{dob}|{f.zip}"))
    swapped = swap_day_month(f.dob) if f.dob else None
    if f.last_code and swapped:
        keys.append((SWAPPED_DOB_KIND, f"{f.last_code}|{swapped.isoformat()}"))
    return keys


def blind_tokens(blind: Callable[[str, str], str], f: PersonFeatures) -> list[tuple[str, str]]:
    """(index kind, token) of every blocking key of `f`, each hashed by `blind(kind, value)`
    under its index kind: how a person is stored in and found through the index."""
    if f.is_empty:
        return []
    return [(index_kind(kind), blind(index_kind(kind), value)) for kind, value in blocking_keys(f)]

"""Sealed fields and blind indexes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from services.crypto.fields import FieldCipher, SealedValueError
from services.crypto.keys import KeyError_, development_keyring, keyring_from_text, new_key_text

INDEX = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


def test_seal_and_open_round_trip_without_plaintext_in_the_token() -> None:
    cipher = FieldCipher(keyring_from_text(new_key_text("a1"), INDEX))
    token = cipher.seal("Alex Testperson", "persons.identity:p1")
    assert "Alex" not in token and token.startswith("v1.a1.")
    assert cipher.open(token, "persons.identity:p1") == "Alex Testperson"
    assert cipher.seal("same", "x") != cipher.seal("same", "x"), "fresh nonce every time"


def test_a_value_moved_to_another_row_does_not_open() -> None:
    cipher = FieldCipher(keyring_from_text(new_key_text("a1"), INDEX))
    token = cipher.seal("1990-01-02", "persons.identity:p1")
    with pytest.raises(SealedValueError, match="moved"):
        cipher.open(token, "persons.identity:p2")


def test_rotation_keeps_old_values_readable_until_resealed() -> None:
    old_key = new_key_text("old")
    old = FieldCipher(keyring_from_text(old_key, INDEX))
    token = old.seal("secret", "aad")
    rotated = FieldCipher(keyring_from_text(f"{new_key_text('new')},{old_key}", INDEX))
    assert rotated.open(token, "aad") == "secret"
    assert FieldCipher.key_id_of(rotated.seal("secret", "aad")) == "new"
    dropped = FieldCipher(keyring_from_text(new_key_text("new"), INDEX))
    with pytest.raises(SealedValueError, match="'old' is not configured"):
        dropped.open(token, "aad")


def test_blind_index_is_keyed_and_stable() -> None:
    one = FieldCipher(keyring_from_text(new_key_text("a"), INDEX))
    other_index = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
    two = FieldCipher(keyring_from_text(new_key_text("b"), other_index))
    assert one.blind("phone", "+13045550142") == one.blind("phone", "+13045550142")
    assert one.blind("phone", "+13045550142") != one.blind("dob", "+13045550142")
    assert one.blind("phone", "+13045550142") != two.blind("phone", "+13045550142")


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ("", "empty"),
        ("nocolon", "id:base64key"),
        ("a:bm90IDMyIGJ5dGVz", "32 bytes"),
        ("a:!!!", "base64"),
    ],
)
def test_bad_key_settings_say_what_is_wrong(keys: str, problem: str) -> None:
    with pytest.raises(KeyError_, match=problem):
        keyring_from_text(keys, INDEX)


def test_development_keys_are_made_once_and_private(tmp_path: Path) -> None:
    first = development_keyring(tmp_path)
    again = development_keyring(tmp_path)
    assert first == again
    mode = stat.S_IMODE((tmp_path / "keys.json").stat().st_mode)
    assert mode == 0o600
    assert set(json.loads((tmp_path / "keys.json").read_text())) == {"data_keys", "index_key"}

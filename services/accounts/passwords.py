"""Password hashing: argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
MIN_LENGTH = 12


class WeakPassword(ValueError):
    def __init__(self) -> None:
        super().__init__(f"a password needs at least {MIN_LENGTH} characters")


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise WeakPassword
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def new_password() -> str:
    """A generated password: 20 URL-safe characters (~120 bits)."""
    return secrets.token_urlsafe(15)


# A hash to verify against when the username is unknown, so the answer takes as long
# as for a known user (no user enumeration by timing).
DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

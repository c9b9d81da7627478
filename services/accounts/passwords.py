"""Password hashing: argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile)."""

from __future__ import annotations

import secrets
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
MIN_LENGTH = 12


class WeakPassword(ValueError):
    def __init__(self, why: str = f"a password needs at least {MIN_LENGTH} characters") -> None:
        super().__init__(why)


@cache
def _common() -> frozenset[str]:
    text = resources.files("services.accounts").joinpath("common_passwords.txt").read_text()
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line and not line.startswith("#")
    )


def check_password(password: str, username: str | None = None) -> None:
    """Refuse a password that keeps nobody out: too short, only spaces, one character
    repeated, the username (or it with digits around), or one of the common passwords
    shipped with the product (common_passwords.txt)."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword
    folded = password.strip().casefold()
    if not folded:
        raise WeakPassword("a password of only spaces is refused")
    if len(set(folded)) == 1:
        raise WeakPassword("a password of one character repeated is refused")
    if username and username.casefold() in folded and len(folded) - len(username) < 6:
        raise WeakPassword("a password made of the username is refused")
    if folded in _common() or folded.rstrip("0123456789!") in _common():
        raise WeakPassword("this password is one of the most common ones; choose another")


def hash_password(password: str, username: str | None = None) -> str:
    check_password(password, username)
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    """A generated password: 20 URL-safe characters (~120 bits)."""
    return secrets.token_urlsafe(15)


# A hash to verify against when the username is unknown, so the answer takes as long
# as for a known user (no user enumeration by timing).
DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

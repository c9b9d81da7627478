"""Sealing personal fields (AES-256-GCM) and blind indexes (HMAC-SHA256).

A sealed value is `v1.<key id>.<base64url(nonce || ciphertext+tag)>`. The
associated data names the row and column it belongs to, so a sealed value
copied into another row or column does not open. A blind index is a keyed hash
of a normalized value: equal values give equal tokens, so matching is an index
lookup, and the database alone reveals nobody.
"""

from __future__ import annotations

import base64
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.crypto.keys import KeyRing

VERSION = "v1"
NONCE_BYTES = 12
BLIND_BYTES = 24  # a blind-index token: 24 bytes of HMAC-SHA256 ...
BLIND_CHARS = 32  # ... in 32 base64url characters


class SealedValueError(ValueError):
    def __init__(self, why: str) -> None:
        super().__init__(f"sealed value cannot be opened: {why}")


class FieldCipher:
    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring
        self._aead = {key_id: AESGCM(key) for key_id, key in keyring.data_keys.items()}
        self._index = hmac.new(keyring.index_key, digestmod="sha256")  # keyed once, copied

    def seal(self, plaintext: str, aad: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self.keyring.primary].encrypt(nonce, plaintext.encode(), aad.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{VERSION}.{self.keyring.primary}.{body}"

    def open(self, token: str, aad: str) -> str:
        try:
            version, key_id, body = token.split(".", 2)
        except ValueError as exc:
            raise SealedValueError("not in v1.<key>.<data> form") from exc
        if version != VERSION:
            raise SealedValueError(f"unknown format {version!r}")
        aead = self._aead.get(key_id)
        if aead is None:
            raise SealedValueError(
                f"data key {key_id!r} is not configured; add it back to QRT_DATA_KEYS "
                "until `qrt keys rotate` has re-sealed everything"
            )
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        try:
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode()).decode()
        except InvalidTag as exc:
            raise SealedValueError("wrong key or the value was tampered with or moved") from exc

    @staticmethod
    def key_id_of(token: str) -> str:
        return token.split(".", 2)[1]

    def blind(self, kind: str, value: str) -> str:
        mac = self._index.copy()
        mac.update(f"{kind}\x1f{value}".encode())
        return base64.urlsafe_b64encode(mac.digest()[:BLIND_BYTES]).decode()

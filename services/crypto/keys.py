"""Key material: data keys (AES-256-GCM, rotatable) and the blind-index key (HMAC).

`QRT_DATA_KEYS` holds `id:base64key` pairs separated by commas, the first one
primary (used to seal); older ones stay listed until `qrt keys rotate` has
re-sealed everything under the primary. `QRT_INDEX_KEY` is the base64 HMAC key
of the blind indexes. In development, keys are generated once into
`<data_dir>/keys.json` (mode 0600); production refuses to start without both.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

KEY_BYTES = 32


class KeyError_(ValueError):
    """A key setting that cannot be used, with what to do about it."""


@dataclass(frozen=True)
class KeyRing:
    data_keys: dict[str, bytes]
    primary: str
    index_key: bytes

    def __post_init__(self) -> None:
        if self.primary not in self.data_keys:
            raise KeyError_(f"primary data key {self.primary!r} is not in the key ring")
        for key_id, key in self.data_keys.items():
            if len(key) != KEY_BYTES:
                raise KeyError_(f"data key {key_id!r} must be {KEY_BYTES} bytes")
        if len(self.index_key) < KEY_BYTES:
            raise KeyError_(f"the index key must be at least {KEY_BYTES} bytes")


def new_key_text(key_id: str | None = None) -> str:
    key_id = key_id or f"k{secrets.token_hex(3)}"
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


def _decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise KeyError_(f"{what} is not valid base64") from exc


def parse_data_keys(text: str) -> tuple[dict[str, bytes], str]:
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        key_id, sep, material = part.partition(":")
        if not sep or not key_id or not key_id.isalnum():
            raise KeyError_("QRT_DATA_KEYS must look like `id:base64key[,id:base64key...]`")
        if key_id in keys:
            raise KeyError_(f"data key id {key_id!r} appears twice in QRT_DATA_KEYS")
        keys[key_id] = _decode(material, f"data key {key_id!r}")
        order.append(key_id)
    if not order:
        raise KeyError_("QRT_DATA_KEYS is empty")
    return keys, order[0]


def keyring_from_text(data_keys: str, index_key: str) -> KeyRing:
    keys, primary = parse_data_keys(data_keys)
    return KeyRing(keys, primary, _decode(index_key, "QRT_INDEX_KEY"))


def development_keyring(data_dir: Path) -> KeyRing:
    """Keys for a development stack: made once, kept beside the SQLite file."""
    path = data_dir / "keys.json"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(
            {
                "data_keys": new_key_text("dev1"),
                "index_key": base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode(),
            }
        )
        # Several processes may start at once: write a private temp file, then link it
        # into place; whoever links first wins and everyone reads the same keys.
        tmp = data_dir / f".keys.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    stored = json.loads(path.read_text())
    return keyring_from_text(stored["data_keys"], stored["index_key"])

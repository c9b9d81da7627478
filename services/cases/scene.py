"""Where an overdose happened, as blind tokens: enough to tell that two reports
describe the same scene, without storing the place in the clear."""

from __future__ import annotations

from schemas.overdose_event import Location
from services.crypto.fields import FieldCipher
from services.identity.normalize import normalize_street, normalize_zip

CELL = 1000  # coordinates rounded to 1/1000 degree: about 110 m by 90 m here


def _cell(lat: float, lon: float) -> tuple[int, int]:
    return round(lat * CELL), round(lon * CELL)


def own_tokens(cipher: FieldCipher, where: Location) -> list[str]:
    tokens = []
    if where.address and (where.zip or where.city):
        place = normalize_zip(where.zip) if where.zip else (where.city or "").casefold()
        tokens.append(cipher.blind("scene_addr", f"{normalize_street(where.address)}|{place}"))
    if where.lat is not None and where.lon is not None:
        y, x = _cell(where.lat, where.lon)
        tokens.append(cipher.blind("scene_cell", f"{y},{x}"))
    return tokens


def probe_tokens(cipher: FieldCipher, where: Location) -> set[str]:
    """Own tokens plus the neighbouring cells: a scene on a cell border still matches."""
    return set(scene_tokens(cipher, where)[1])


def scene_tokens(cipher: FieldCipher, where: Location) -> tuple[list[str], frozenset[str]]:
    """(`own_tokens`, `probe_tokens`) of one scene, each token hashed once."""
    own = own_tokens(cipher, where)
    probes = set(own)
    if where.lat is not None and where.lon is not None:
        y, x = _cell(where.lat, where.lon)
        probes.update(
            cipher.blind("scene_cell", f"{y + dy},{x + dx}")
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if dy or dx  # the scene's own cell is among its own tokens
        )
    return own, frozenset(probes)

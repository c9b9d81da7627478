"""Links a phone follows: `tel:` for a number, `geo:` for a place (the phone's own map
app opens it; no map service is named and nothing external is loaded by the page)."""

from __future__ import annotations

from urllib.parse import quote

from schemas.case_views import AddressView, PlaceView


def tel_uri(phone: str | None) -> str:
    if not phone:
        return ""
    digits = "".join(c for c in phone if c.isdigit() or c == "+")
    return f"tel:{digits}" if digits else ""


def place_words(place: PlaceView | AddressView | None, *, line2: bool = True) -> str:
    """The place in words; `line2`: with the apartment, suite or room (not for a map)."""
    if place is None:
        return ""
    town = " ".join(p for p in (place.state, place.zip) if p)
    apartment = place.address2 if line2 else None
    parts = [p for p in (place.address, apartment, place.city, town) if p]
    return ", ".join(parts)


def geo_uri(place: PlaceView | AddressView | None) -> str:
    """`geo:LAT,LON` when the report gave coordinates, else a query for the address."""
    if place is None:
        return ""
    lat = getattr(place, "lat", None)
    lon = getattr(place, "lon", None)
    if lat is not None and lon is not None:
        label = place_words(place, line2=False)
        query = f"?q={lat},{lon}" + (f"({quote(label)})" if label else "")
        return f"geo:{lat},{lon}{query}"
    words = place_words(place, line2=False)
    return f"geo:0,0?q={quote(words)}" if words else ""

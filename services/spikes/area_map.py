"""The alert page's map: the places of an area's overdoses as points over the program's
boundary, drawn as SVG by the server (no map tiles, nothing fetched). Pure.

An equirectangular projection around the points' middle latitude (a degree of longitude
is cos(latitude) of a degree of latitude), fitted to the box with a margin. Places are
rounded to 0.001 degree (about 100 m) before drawing: the map shows a cluster, not a
door. A boundary is the GeoJSON of the program's area (Polygon, MultiPolygon, a Feature
or a FeatureCollection of them); its outer rings are drawn."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

Point = tuple[float, float, bool]  # lat, lon, fatal
Ring = list[tuple[float, float]]  # (lon, lat), as GeoJSON has them
PRECISION = 3
SCALE_KM = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)


class BoundaryError(ValueError):
    pass


def rings_of(geojson: Any) -> list[Ring]:
    """The outer rings of a GeoJSON geometry, feature or collection."""
    kind = geojson.get("type") if isinstance(geojson, dict) else None
    if kind == "FeatureCollection":
        return [r for f in geojson.get("features") or [] for r in rings_of(f)]
    if kind == "Feature":
        return rings_of(geojson.get("geometry") or {})
    try:
        if kind == "Polygon":
            return [_ring(geojson["coordinates"][0])]
        if kind == "MultiPolygon":
            return [_ring(polygon[0]) for polygon in geojson["coordinates"]]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise BoundaryError(f"a {kind} without usable coordinates: {exc}") from exc
    raise BoundaryError(f"not a Polygon, MultiPolygon, Feature or FeatureCollection: {kind!r}")


def _ring(coordinates: Iterable[Sequence[float]]) -> Ring:
    return [(float(c[0]), float(c[1])) for c in coordinates]


def draw(points: Sequence[Point], boundary: Sequence[Ring] = (), *, width: int = 640,
         height: int = 420, title: str = "") -> str:  # fmt: skip
    shown = [(round(lat, PRECISION), round(lon, PRECISION), f) for lat, lon, f in points]
    lats = [p[0] for p in shown] + [lat for ring in boundary for _, lat in ring]
    lons = [p[1] for p in shown] + [lon for ring in boundary for lon, _ in ring]
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'role="img" class="area-map"><title>{escape(title)}</title>'
            f'<rect width="{width}" height="{height}" class="map-ground"/>')  # fmt: skip
    if not lats:
        return head + '<text x="20" y="40">no places to draw</text></svg>'
    project, unit = _projection(lats, lons, width, height)
    parts = [head]
    for ring in boundary:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (project(lat, lon) for lon, lat in ring))
        parts.append(f'<polygon points="{path}" class="map-boundary"/>')
    for lat, lon, fatal in shown:
        x, y = project(lat, lon)
        kind = "map-point fatal" if fatal else "map-point"
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" class="{kind}"/>')
    parts.append(_scale_bar(unit, width, height))
    parts.append("</svg>")
    return "".join(parts)


def _scale_bar(unit: float, width: int, height: int) -> str:
    """A bar of a round distance at the bottom left: `unit` is pixels per degree of
    latitude (111.32 km)."""
    per_km = unit / 111.32
    km = next((k for k in SCALE_KM if per_km * k >= width / 8), SCALE_KM[-1])
    bar, y = per_km * km, height - 14
    label = f"{km:g} km"
    return (
        f'<line x1="16" y1="{y}" x2="{16 + bar:.1f}" y2="{y}" class="map-scale"/>'
        f'<text x="16" y="{y - 6}" class="map-scale-label">{label}</text>'
    )


def _projection(lats: list[float], lons: list[float], width: int, height: int) -> tuple[Any, float]:
    middle = math.radians((min(lats) + max(lats)) / 2)
    scale_x = max(math.cos(middle), 0.05)
    span_x = max((max(lons) - min(lons)) * scale_x, 0.002)
    span_y = max(max(lats) - min(lats), 0.002)
    margin = 24
    unit = min((width - 2 * margin) / span_x, (height - 2 * margin) / span_y)
    mid_x, mid_y = (min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2

    def project(lat: float, lon: float) -> tuple[float, float]:
        return (width / 2 + (lon - mid_x) * scale_x * unit, height / 2 - (lat - mid_y) * unit)

    return project, unit

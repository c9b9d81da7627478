"""The areas a spike is counted in: the ZIP, the county, and a grid cell of about 1 km.

A grid cell is 0.01 degree of latitude (1.11 km) by the longitude step that spans
about the same distance at the cell's latitude, so cells stay near-square from the
equator to Alaska. Its name is the integer row and column, e.g. `4065:-5611:1318`
(Brooklyn: the row, the column, and the longitude step in 1/100,000 degree). Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

LAT_STEP = 0.01  # degrees: 1.11 km


class AreaKind(StrEnum):
    ZIP = "zip"
    COUNTY = "county"
    GRID = "grid"


@dataclass(frozen=True)
class Area:
    kind: AreaKind
    name: str


def _row(lat: float) -> int:
    return math.floor(round(lat * 100, 6))  # 40.66 * 100 is 4066.0; 40.66 / 0.01 is not


def lon_step(lat: float) -> int:
    """The longitude step of the cell row holding this latitude, in 1/100,000 degree,
    the same for every point of the row."""
    row_lat = _row(lat) * LAT_STEP
    cos = max(math.cos(math.radians(abs(row_lat + LAT_STEP / 2))), 0.05)
    return round(LAT_STEP / cos * 100_000)


def grid_cell(lat: float, lon: float) -> str:
    step = lon_step(lat)
    col = math.floor(round(lon * 100_000, 3) / step)
    return f"{_row(lat)}:{col}:{step}"


def cell_center(name: str) -> tuple[float, float]:
    row, col, step = (int(part) for part in name.split(":"))
    return ((row + 0.5) * LAT_STEP, (col + 0.5) * step / 100_000)


def areas_of(
    zip_code: str | None, county_fips: str | None, lat: float | None, lon: float | None
) -> list[Area]:
    """The areas one report counts in: a ZIP+4 counts in its 5-digit ZIP."""
    found = []
    if zip_code:
        found.append(Area(AreaKind.ZIP, zip_code[:5]))
    if county_fips:
        found.append(Area(AreaKind.COUNTY, county_fips))
    if lat is not None and lon is not None:
        found.append(Area(AreaKind.GRID, grid_cell(lat, lon)))
    return found

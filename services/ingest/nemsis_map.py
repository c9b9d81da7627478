"""One NEMSIS v3.5 PatientCareReport -> the fields of an OverdoseEvent (pure).

A value with `xsi:nil="true"` is absent; a pertinent negative (`PN`) is no value, except
the age's "Approximate" (it comes with the age). Codes become the data dictionary's words
(services/ingest/nemsis_codes.py); free text longer than the event holds is cut, never a
reason to lose the report. City elements (eScene.17, ePatient.06, eDisposition.04) are
GNIS feature codes, not names: not mapped."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element

from schemas.overdose_event import MAX_PHONES
from services.ingest.nemsis_codes import AGE_UNITS, APPROXIMATE, GENDER, GIVEN_BY, NAMESPACE, SEX
from services.ingest.us_states import STATE_BY_FIPS

NS = "{" + NAMESPACE + "}"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
EXPIRED = {"3018001", "3018003"}  # eArrest.18: expired in the ED / in the field
NALOXONE = {"7242", "203192", "197117"}
TEXT_MAX = 200  # ShortText in schemas/overdose_event.py
_LATLON = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")

# Every element the mapping reads (with the groups that hold them): the reader drops any
# other element of a report as soon as it ends, so memory holds only these.
READ = frozenset(
    {
        "eRecord.01", "eResponse.02", "eResponse.03", "eTimes.01", "eTimes.03", "eTimes.07",
        "ePatient.02", "ePatient.03", "ePatient.04", "ePatient.05", "ePatient.07",
        "ePatient.08", "ePatient.09", "ePatient.13", "ePatient.15", "ePatient.16",
        "ePatient.17", "ePatient.18", "ePatient.24", "ePatient.25",
        "eScene.11", "eScene.13", "eScene.15", "eScene.16", "eScene.18", "eScene.19",
        "eScene.20", "eScene.21",
        "eSituation.09", "eSituation.10", "eSituation.11", "eSituation.12",
        "eMedications.03", "eMedications.07", "eMedications.10", "eArrest.18",
        "eDisposition.01", "eDisposition.03", "eDisposition.05", "eDisposition.06",
        "eDisposition.07", "eDisposition.27", "eDisposition.28", "eDisposition.29",
        "eDisposition.30", "eDisposition.12",
    }
)  # fmt: skip


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())  # a line break inside a value is a space


def values(report: Element, name: str, *, skip_pertinent_negatives: bool = True) -> list[str]:
    out = []
    for el in report.iter(f"{NS}{name}"):
        if el.get(XSI_NIL) == "true" or (skip_pertinent_negatives and el.get("PN")):
            continue
        if text := _clean(el.text):
            out.append(text)
    return out


def first(report: Element, name: str) -> str | None:
    found = values(report, name)
    return found[0] if found else None


def _fit(text: str | None) -> str | None:
    return text[:TEXT_MAX].rstrip() or None if text else None


def _street(report: Element, name: str) -> tuple[str | None, str | None]:
    """A street element and its `StreetAddress2` attribute (apartment, suite, room)."""
    for el in report.iter(f"{NS}{name}"):
        if el.get(XSI_NIL) == "true" or el.get("PN"):
            continue
        line2 = _clean(el.get("StreetAddress2"))
        return _fit(_clean(el.text)), _fit(line2)
    return None, None


def _time(report: Element) -> datetime | None:
    for name in ("eTimes.01", "eTimes.03", "eTimes.07"):
        text = first(report, name)
        if text:
            return datetime.fromisoformat(text)
    return None


def _latlon(text: str | None) -> tuple[float | None, float | None]:
    m = _LATLON.match(text or "")
    return (float(m.group(1)), float(m.group(2))) if m else (None, None)


def _state(fips: str | None) -> str | None:
    return STATE_BY_FIPS.get(fips.zfill(2)) if fips and fips.isdigit() else None


def medications(report: Element) -> list[tuple[str | None, str | None, str | None]]:
    """(RxNorm code, response, given by) per eMedications.MedicationGroup."""
    groups = []
    for group in report.iter(f"{NS}eMedications.MedicationGroup"):
        groups.append(
            (first(group, "eMedications.03"), first(group, "eMedications.07"),
             first(group, "eMedications.10"))
        )  # fmt: skip
    return groups


def _sex(report: Element) -> str | None:
    """ePatient.25 (v3.5.1), else the deprecated ePatient.13."""
    for name, table in (("ePatient.25", SEX), ("ePatient.13", GENDER)):
        if (code := first(report, name)) and code in table:
            return table[code]
    return None


def _age(report: Element) -> dict[str, Any] | None:
    for el in report.iter(f"{NS}ePatient.15"):
        text = _clean(el.text)
        if el.get(XSI_NIL) == "true" or not text.isdigit() or int(text) > 150:
            return None
        unit = AGE_UNITS.get(first(report, "ePatient.16") or "")
        return {"value": int(text), "unit": unit, "approximate": el.get("PN") == APPROXIMATE}
    return None


def _compact(fields: dict[str, Any]) -> dict[str, Any] | None:
    kept = {k: v for k, v in fields.items() if v is not None}
    return kept or None


def patient_of(report: Element) -> dict[str, Any] | None:
    street, line2 = _street(report, "ePatient.05")
    home = _compact(
        {"address": street, "address2": line2, "state": _state(first(report, "ePatient.08")),
         "zip": first(report, "ePatient.09"), "county_fips": first(report, "ePatient.07")}
    )  # fmt: skip
    phones = list(dict.fromkeys(values(report, "ePatient.18")))[:MAX_PHONES]
    who = _compact(
        {
            "last_name": _fit(first(report, "ePatient.02")),
            "first_name": _fit(first(report, "ePatient.03")),
            "middle_name": _fit(first(report, "ePatient.04")),
            "dob": first(report, "ePatient.17"),
            "age": _age(report),
            "sex": _sex(report),
            "phone": phones[0] if phones else None,
            "phones": phones if len(phones) > 1 else None,
            "language": (first(report, "ePatient.24") or "").lower() or None,
        }
    )
    if who is None and home is None:
        return None
    return {**(who or {}), **({"address": home} if home else {})}


def scene_of(report: Element) -> dict[str, Any]:
    lat, lon = _latlon(first(report, "eScene.11"))
    street, line2 = _street(report, "eScene.15")
    words = [first(report, "eScene.13"), first(report, "eScene.20")]  # place name, directions
    scene = {
        "lat": lat,
        "lon": lon,
        "address": street,
        "address2": line2 or _fit(first(report, "eScene.16")),
        "state": _state(first(report, "eScene.18")),
        "zip": first(report, "eScene.19"),
        "county_fips": first(report, "eScene.21"),
        "description": _fit("; ".join(w for w in words if w)),
    }
    return _compact(scene) or {}


def destination_of(report: Element) -> dict[str, Any] | None:
    street, line2 = _street(report, "eDisposition.03")
    return _compact(
        {"name": _fit(first(report, "eDisposition.01")), "address": street, "address2": line2,
         "state": _state(first(report, "eDisposition.05")),
         "county_fips": first(report, "eDisposition.06"),
         "zip": first(report, "eDisposition.07")}
    )  # fmt: skip


def map_report(report: Element, agency_id: str) -> dict[str, Any]:
    """The OverdoseEvent fields of one PatientCareReport (validated by the caller)."""
    naloxone = [m for m in medications(report) if m[0] in NALOXONE]
    codes = [values(report, f"eSituation.{n}") for n in ("11", "12", "09", "10")]
    disposition = [first(report, f"eDisposition.{n}") for n in ("27", "28", "29", "30")]
    given_by = naloxone[0][2] if naloxone else None
    return {
        "event_id": report.get("UUID") or first(report, "eRecord.01"),
        "source": "ems",
        "agency_id": agency_id,
        "agency_name": _fit(first(report, "eResponse.02")),
        "incident_number": first(report, "eResponse.03"),
        "occurred_at": _time(report),
        "location": scene_of(report),
        "patient": patient_of(report),
        "fatal": bool(set(values(report, "eArrest.18")) & EXPIRED),
        "naloxone": {
            "administered": bool(naloxone),
            "doses": len(naloxone) or None,
            "given_by": GIVEN_BY.get(given_by, given_by) if given_by else None,
        },
        "suspected_substances": sorted({c for found in codes for c in found})[:50],
        "disposition": ",".join(d for d in disposition if d) or None,
        "destination": destination_of(report),
    }

"""NEMSIS v3.5.0 / v3.5.1 EMSDataSet -> OverdoseEvent v1, streamed and safe.

One file holds many `PatientCareReport`s; each is read, mapped and dropped
before the next, so a 100 MB export never becomes 100 MB of objects. The XML is
parsed by defusedxml: a DTD, an entity declaration or an external reference is
refused (XXE, "billion laughs"); size and nesting depth are capped. A value with
`xsi:nil="true"` (NV/PN "not recorded", "refused") is absent; a pertinent
negative (`PN` attribute) on an impression or symptom never counts. City
elements (eScene.17, ePatient.06) are GNIS feature codes, not names: not mapped.

Classification (services/ingest/overdose_class.py) follows the NEMSIS opioid
overdose case definition; other drug overdoses are `suspected_overdose`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from pydantic import ValidationError

from schemas.overdose_event import OverdoseEvent
from services.ingest.overdose_class import OverdoseClass, classify
from services.ingest.us_states import STATE_BY_FIPS

NS = "{http://www.nemsis.org}"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
MAX_BYTES = 200 * 1024 * 1024
MAX_DEPTH = 40
SEX = {"9906001": "female", "9906003": "male", "9906007": "other", "9906009": "unknown"}
EXPIRED = {"3018001", "3018003"}  # eArrest.18: expired in the ED / in the field
_LATLON = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")


class NemsisRefused(Exception):
    """The file as a whole cannot be read: malformed, unsafe, too big or too deep."""


class ForeignAgency(NemsisRefused):
    """The file names another agency than the publisher's own."""


@dataclass
class NemsisReport:
    """One PatientCareReport: its class, and the event it maps to (or why not)."""

    report_id: str
    classification: OverdoseClass
    event: OverdoseEvent | None = None
    problem: str | None = None
    codes: list[str] = field(default_factory=list)
    medications: list[tuple[str | None, str | None]] = field(default_factory=list)


class _Capped:
    """A reader that refuses to go past `limit` bytes."""

    def __init__(self, raw: IO[bytes], limit: int) -> None:
        self.raw, self.limit, self.read_bytes = raw, limit, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size if size and size > 0 else 64 * 1024)
        self.read_bytes += len(chunk)
        if self.read_bytes > self.limit:
            raise NemsisRefused(f"the file is larger than {self.limit:,} bytes")
        return chunk


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _values(report: Element, name: str, *, skip_pertinent_negatives: bool = True) -> list[str]:
    out = []
    for el in report.iter(f"{NS}{name}"):
        if el.get(XSI_NIL) == "true" or (skip_pertinent_negatives and el.get("PN")):
            continue
        text = " ".join((el.text or "").split())  # a line break inside a value is a space
        if text:
            out.append(text)
    return out


def _first(report: Element, name: str) -> str | None:
    found = _values(report, name)
    return found[0] if found else None


def _time(report: Element) -> datetime | None:
    for name in ("eTimes.01", "eTimes.03", "eTimes.07"):
        text = _first(report, name)
        if text:
            return datetime.fromisoformat(text)
    return None


def _latlon(text: str | None) -> tuple[float | None, float | None]:
    m = _LATLON.match(text or "")
    return (float(m.group(1)), float(m.group(2))) if m else (None, None)


def _state(fips: str | None) -> str | None:
    return STATE_BY_FIPS.get(fips.zfill(2)) if fips and fips.isdigit() else None


def _medications(report: Element) -> list[tuple[str | None, str | None, str | None]]:
    """(RxNorm code, response, given by) per eMedications.MedicationGroup."""
    groups = []
    for group in report.iter(f"{NS}eMedications.MedicationGroup"):
        groups.append(
            (_first(group, "eMedications.03"), _first(group, "eMedications.07"),
             _first(group, "eMedications.10"))
        )  # fmt: skip
    return groups


def map_report(report: Element, agency_id: str) -> dict[str, Any]:
    """The OverdoseEvent fields of one PatientCareReport (validated by the caller)."""
    lat, lon = _latlon(_first(report, "eScene.11"))
    meds = _medications(report)
    naloxone = [m for m in meds if m[0] in {"7242", "203192", "197117"}]
    impressions = _values(report, "eSituation.11") + _values(report, "eSituation.12")
    symptoms = _values(report, "eSituation.09") + _values(report, "eSituation.10")
    home = {
        "address": _first(report, "ePatient.05"),
        "state": _state(_first(report, "ePatient.08")),
        "zip": _first(report, "ePatient.09"),
        "county_fips": _first(report, "ePatient.07"),
    }
    patient: dict[str, Any] = {
        "last_name": _first(report, "ePatient.02"),
        "first_name": _first(report, "ePatient.03"),
        "dob": _first(report, "ePatient.17"),
        "sex": SEX.get(_first(report, "ePatient.13") or ""),
        "phone": _first(report, "ePatient.18"),
        "language": (_first(report, "ePatient.24") or "").lower() or None,
        "address": {k: v for k, v in home.items() if v} or None,
    }
    has_patient = any(v for k, v in patient.items() if k != "address") or patient["address"]
    record = report.get("UUID") or _first(report, "eRecord.01")
    disposition = [_first(report, f"eDisposition.{n}") for n in ("27", "28", "29", "30")]
    scene = {
        "lat": lat,
        "lon": lon,
        "address": _first(report, "eScene.15"),
        "state": _state(_first(report, "eScene.18")),
        "zip": _first(report, "eScene.19"),
        "county_fips": _first(report, "eScene.21"),
    }
    return {
        "event_id": record,
        "source": "ems",
        "agency_id": agency_id,
        "incident_number": _first(report, "eResponse.03"),
        "occurred_at": _time(report),
        "location": {k: v for k, v in scene.items() if v is not None},
        "patient": {k: v for k, v in patient.items() if v} if has_patient else None,
        "fatal": bool(set(_values(report, "eArrest.18")) & EXPIRED),
        "naloxone": {
            "administered": bool(naloxone),
            "doses": len(naloxone) or None,
            "given_by": naloxone[0][2] if naloxone else None,
        },
        "suspected_substances": sorted(set(impressions + symptoms))[:50],
        "disposition": ",".join(d for d in disposition if d) or None,
    }


def read_reports(
    source: IO[bytes],
    *,
    agency_id: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    suspected_prefixes: tuple[str, ...] | None = None,
    own_agency: str | None = None,
) -> Iterator[NemsisReport]:
    """Every PatientCareReport of an EMSDataSet, in file order, one at a time.

    `agency_id` defaults to the file's dAgency.02 (agency number), else dAgency.01.
    With `own_agency` (an authenticated publisher), a file naming another agency in
    dAgency.02 is refused (`ForeignAgency`) and every report is published as `own_agency`."""
    capped = _Capped(source, max_bytes)
    depth, agencies = 0, dict[str, str]()
    stack: list[Element] = []
    try:
        for kind, el in iterparse(capped, events=("start", "end"), forbid_dtd=True):
            if kind == "start":
                depth += 1
                if depth > max_depth:
                    raise NemsisRefused(f"the XML nests deeper than {max_depth} levels")
                if depth == 1 and _local(el.tag) != "EMSDataSet":
                    raise NemsisRefused(f"not a NEMSIS EMSDataSet (root is {_local(el.tag)})")
                stack.append(el)
                continue
            depth -= 1
            stack.pop()
            name = _local(el.tag)
            if name in ("dAgency.02", "dAgency.01") and el.text and el.text.strip():
                agencies.setdefault(name, el.text.strip())
            if name != "PatientCareReport":
                continue
            file_agency = agencies.get("dAgency.02") or agencies.get("dAgency.01")
            if own_agency is not None:
                if agencies.get("dAgency.02") not in (None, own_agency):
                    raise ForeignAgency(
                        f"the file is agency {agencies['dAgency.02']!r}'s (dAgency.02); "
                        f"this key publishes only as {own_agency!r}"
                    )
                file_agency = own_agency
            yield _one(el, agency_id or file_agency, suspected_prefixes)
            el.clear()
            if stack:  # drop the finished report from its parent: memory stays flat
                stack[-1].remove(el)
    except DefusedXmlException as exc:
        raise NemsisRefused(
            f"unsafe XML refused ({type(exc).__name__}): DTDs, entities and external "
            "references are not accepted"
        ) from None
    except ParseError as exc:
        raise NemsisRefused(f"malformed XML: {exc}") from None


def _one(report: Element, agency_id: str | None, prefixes: tuple[str, ...] | None) -> NemsisReport:
    report_id = report.get("UUID") or _first(report, "eRecord.01") or "(no report id)"
    symptoms = _values(report, "eSituation.09") + _values(report, "eSituation.10")
    impressions = _values(report, "eSituation.11") + _values(report, "eSituation.12")
    meds = [(code, response) for code, response, _ in _medications(report)]
    found = classify(symptoms + impressions, meds, prefixes)
    result = NemsisReport(
        report_id, found, codes=sorted(set(symptoms + impressions)), medications=meds
    )
    if not agency_id:
        result.problem = "no agency: the file has no dAgency.02/.01 and none was given"
        return result
    try:
        data = map_report(report, agency_id)
        if data["occurred_at"] is None:
            result.problem = "no call time (eTimes.01, .03 or .07)"
            return result
        result.event = OverdoseEvent.model_validate(data)
    except (ValidationError, ValueError) as exc:
        result.problem = _brief(exc)
    return result


def _brief(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
    return str(exc)[:300]

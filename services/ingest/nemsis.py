"""NEMSIS v3.5.0 / v3.5.1 EMSDataSet -> OverdoseEvent v1, streamed and safe.

The file must be an `{http://www.nemsis.org}EMSDataSet` of the v3 structure (Header ->
DemographicGroup, PatientCareReport...) and declare v3.5.0 or v3.5.1 in its
`xsi:schemaLocation` (the XSD address holds the version, e.g. .../3.5.1.250403CP1/...;
NEMSIS v3.5 has no version element of its own). A file that declares no version is read
as v3.5, unless it holds an element v3.5 no longer has (eDisposition.12: v3.4). Anything
else is refused as a whole with the reason.

One file holds many `PatientCareReport`s; each is read, mapped and dropped before the
next, and inside a report every element the mapping does not read is dropped as soon as
it ends (services/ingest/nemsis_map.py `READ`), so memory holds one report's useful
elements only; a report of more than `max_elements` elements is refused. The XML is
parsed by defusedxml: a DTD, an entity declaration or an external reference is refused
(XXE, "billion laughs"); size and nesting depth are capped.

Classification (services/ingest/overdose_class.py) follows the NEMSIS opioid overdose
case definition; other drug overdoses are `suspected_overdose`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from pydantic import ValidationError

from schemas.overdose_event import OverdoseEvent
from services.ingest.nemsis_codes import (
    ACCEPTED_VERSIONS,
    NAMESPACE,
    V34_ONLY,
    accepted,
    declared_version,
)
from services.ingest.nemsis_map import (
    NS,
    READ,
    XSI_NIL,
    first,
    map_report,
    medications,
    values,
)
from services.ingest.overdose_class import OverdoseClass, classify

__all__ = [
    "MAX_BYTES", "MAX_DEPTH", "MAX_ELEMENTS", "NS", "XSI_NIL", "ForeignAgency",
    "NemsisRefused", "NemsisReport", "map_report", "read_reports",
]  # fmt: skip

MAX_BYTES = 200 * 1024 * 1024
MAX_DEPTH = 40
MAX_ELEMENTS = 20_000  # per report; a real one holds a few hundred to a few thousand
SCHEMA_LOCATION = "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation"
HEADER_PARTS = ("DemographicGroup", "eCustomConfiguration", "PatientCareReport")
OTHER_DATASETS = {
    "DEMDataSet": "a DEMDataSet (agency demographics)",
    "StateDataSet": "a StateDataSet (state configuration)",
}


class NemsisRefused(Exception):
    """The file as a whole cannot be read: malformed, unsafe, too big or too deep, not a
    NEMSIS v3.5 EMSDataSet."""


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
    nemsis_version: str | None = None  # as the file declares it; None: not declared


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


def _split(tag: str) -> tuple[str, str]:
    """(namespace, local name) of an element's tag."""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def root_problem(tag: str) -> str | None:
    """Why a root element is not a NEMSIS EMSDataSet (None when it is one)."""
    namespace, name = _split(tag)
    if namespace == NAMESPACE and name == "EMSDataSet":
        return None
    if namespace == NAMESPACE and name in OTHER_DATASETS:
        return f"not a NEMSIS EMSDataSet: the file is {OTHER_DATASETS[name]}, not EMS reports"
    if name == "EMSDataSet":
        where = f"in the XML namespace {namespace!r}" if namespace else "in no XML namespace"
        return (
            f"not a NEMSIS EMSDataSet: its root element EMSDataSet is {where}, not "
            f'{NAMESPACE!r} (NEMSIS v3 files declare xmlns="{NAMESPACE}")'
        )
    shown = f"{name} in the XML namespace {namespace!r}" if namespace else name
    return f"not a NEMSIS EMSDataSet (root is {shown})"


def version_of(root: Element) -> str | None:
    """The version the file declares, if any; refused unless it is v3.5.0 or v3.5.1."""
    version = declared_version(root.get(SCHEMA_LOCATION))
    if version is not None and not accepted(version):
        raise NemsisRefused(
            f"NEMSIS v{version} is not accepted (the file's xsi:schemaLocation declares it): "
            f"only v{' and v'.join(ACCEPTED_VERSIONS)} are read; export the file as NEMSIS v3.5"
        )
    return version


class _Reader:
    """The state of one pass over a file: depth, open elements, the report being read."""

    def __init__(self, max_depth: int, max_elements: int) -> None:
        self.max_depth, self.max_elements = max_depth, max_elements
        self.stack: list[Element] = []
        self.agencies: dict[str, str] = {}
        self.version: str | None = None
        self.report: Element | None = None
        self.elements = self.reports = self.outside = 0

    def start(self, el: Element) -> None:
        depth = len(self.stack) + 1
        if depth > self.max_depth:
            raise NemsisRefused(f"the XML nests deeper than {self.max_depth} levels")
        if depth == 1:
            if problem := root_problem(el.tag):
                raise NemsisRefused(problem)
            self.version = version_of(el)
        elif depth <= 3:
            self._check_structure(el, depth)
        if self.report is not None:
            self._count(el)
        elif depth > 3:
            self.outside += 1
            if self.outside > self.max_elements:
                raise NemsisRefused(
                    f"the file holds more than {self.max_elements:,} XML elements outside "
                    "its reports (DemographicGroup, eCustomConfiguration); refused"
                )
        self.stack.append(el)

    def _check_structure(self, el: Element, depth: int) -> None:
        namespace, name = _split(el.tag)
        expected = ("Header",) if depth == 2 else HEADER_PARTS
        if namespace != NAMESPACE or name not in expected:
            inside = "EMSDataSet" if depth == 2 else "Header"
            raise NemsisRefused(
                f"not the NEMSIS v3 EMSDataSet structure: <{name}> inside {inside}, where "
                f"{' or '.join(expected)} belongs"
            )
        if name == "PatientCareReport":
            self.report, self.elements = el, 0
            self.reports += 1

    def _count(self, el: Element) -> None:
        self.elements += 1
        if self.elements > self.max_elements:
            assert self.report is not None
            raise NemsisRefused(
                f"report {self.reports} of the file ({self.report.get('UUID') or 'no UUID'}) "
                f"holds more than {self.max_elements:,} XML elements; refused, so that one "
                "report cannot exhaust the memory (QRT_NEMSIS_MAX_ELEMENTS_PER_REPORT)"
            )
        name = _local(el.tag)
        if self.version is None and name in V34_ONLY:
            raise NemsisRefused(
                f"the file declares no NEMSIS version and holds {name}, an element of v3.4 "
                f"that v3.5.0 replaced ({V34_ONLY[name]}): NEMSIS v3.4 is not accepted; "
                "export the file as NEMSIS v3.5"
            )

    def end(self, el: Element) -> Element | None:
        """The finished report when `el` ends one; drops what nothing will read."""
        self.stack.pop()
        parent = self.stack[-1] if self.stack else None
        if el is self.report:
            self.report = None
            if parent is not None:  # drop the finished report from its parent
                parent.remove(el)
            return el
        name = _local(el.tag)
        if self.report is None and name in ("dAgency.02", "dAgency.01"):
            if text := (el.text or "").strip():
                self.agencies.setdefault(name, text)
        if parent is not None and (self.report is None or (name not in READ and len(el) == 0)):
            parent.remove(el)  # memory holds what the mapping reads, nothing else
        return None

    def agency(self, own_agency: str | None) -> str | None:
        named = self.agencies.get("dAgency.02")
        if own_agency is None:
            return named or self.agencies.get("dAgency.01")
        if named not in (None, own_agency):
            raise ForeignAgency(
                f"the file is agency {named!r}'s (dAgency.02); "
                f"this key publishes only as {own_agency!r}"
            )
        return own_agency


def read_reports(
    source: IO[bytes],
    *,
    agency_id: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    max_elements: int = MAX_ELEMENTS,
    suspected_prefixes: tuple[str, ...] | None = None,
    own_agency: str | None = None,
) -> Iterator[NemsisReport]:
    """Every PatientCareReport of an EMSDataSet, in file order, one at a time.

    `agency_id` defaults to the file's dAgency.02 (agency number), else dAgency.01.
    With `own_agency` (an authenticated publisher), a file naming another agency in
    dAgency.02 is refused (`ForeignAgency`) and every report is published as `own_agency`.
    A file that cannot be read as a whole raises `NemsisRefused` (after the reports
    before the fault were yielded: read the whole file before acting on any of them)."""
    reader = _Reader(max_depth, max_elements)
    try:
        for kind, el in iterparse(_Capped(source, max_bytes), ("start", "end"), forbid_dtd=True):
            if kind == "start":
                reader.start(el)
            elif (report := reader.end(el)) is not None:
                agency = agency_id or reader.agency(own_agency)
                yield _one(report, agency, suspected_prefixes, reader.version)
                report.clear()
    except DefusedXmlException as exc:
        raise NemsisRefused(
            f"unsafe XML refused ({type(exc).__name__}): DTDs, entities and external "
            "references are not accepted"
        ) from None
    except ParseError as exc:
        raise NemsisRefused(f"malformed XML: {exc}") from None
    if reader.reports == 0:
        raise NemsisRefused("the EMSDataSet holds no PatientCareReport")


def _one(
    report: Element,
    agency_id: str | None,
    prefixes: tuple[str, ...] | None,
    version: str | None,
) -> NemsisReport:
    report_id = report.get("UUID") or first(report, "eRecord.01") or "(no report id)"
    symptoms = values(report, "eSituation.09") + values(report, "eSituation.10")
    impressions = values(report, "eSituation.11") + values(report, "eSituation.12")
    meds = [(code, response) for code, response, _ in medications(report)]
    found = classify(symptoms + impressions, meds, prefixes)
    result = NemsisReport(
        report_id, found, codes=sorted(set(symptoms + impressions)), medications=meds,
        nemsis_version=version,
    )  # fmt: skip
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

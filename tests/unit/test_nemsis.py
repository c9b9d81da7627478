"""NEMSIS v3.5 exports: mapping, the opioid case definition, NV/PN values, safety.
The corpus in tests/data/nemsis/ was written from the NEMSIS v3.5.1 data dictionary."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.ingest.nemsis import NemsisRefused, read_reports
from services.ingest.overdose_class import OverdoseClass, classify, followed_up

CORPUS = Path(__file__).resolve().parents[1] / "data" / "nemsis"


def reports(name: str, **options: object) -> list:  # type: ignore[type-arg]
    with (CORPUS / name).open("rb") as source:
        return list(read_reports(source, **options))  # type: ignore[arg-type]


def test_naloxone_with_improvement_is_an_opioid_overdose_and_maps_every_field() -> None:
    (r,) = reports("naloxone_improved.xml")
    assert r.classification is OverdoseClass.OPIOID_OVERDOSE and r.problem is None
    e = r.event
    assert e is not None
    assert (e.event_id, e.source.value, e.agency_id) == (
        "5f1b6e0a-0001-4a6e-9b1a-000000000001", "ems", "EX-EMS-01"
    )  # fmt: skip
    assert e.incident_number == "EMS-26-1001"
    assert e.occurred_at == datetime(2026, 11, 21, 3, 14, tzinfo=UTC)
    assert (e.location.lat, e.location.lon) == (38.4192, -82.4452)
    assert (e.location.state, e.location.zip, e.location.county_fips) == ("WV", "25701", "54011")
    assert e.patient is not None
    assert (e.patient.first_name, e.patient.last_name) == ("Alex", "Testperson")
    assert str(e.patient.dob) == "1990-01-02" and e.patient.phone == "304-555-0142"
    assert (e.patient.language, e.patient.sex) == ("eng", "male")
    assert e.patient.address is not None and e.patient.address.zip == "25701"
    assert e.naloxone.administered and e.naloxone.doses == 1
    assert e.fatal is False and e.disposition == "4227001,4230009"


def test_an_f11_impression_is_an_opioid_overdose() -> None:
    (r,) = reports("f11_impression.xml")
    assert r.classification is OverdoseClass.OPIOID_OVERDOSE
    assert r.event is not None and r.event.patient is None, "nobody named: still an event"
    assert r.event.suspected_substances == ["F11.920"]


def test_a_non_opioid_drug_is_a_suspected_overdose_and_a_fracture_is_not_an_overdose() -> None:
    (drug,) = reports("non_opioid_drug.xml")
    assert drug.classification is OverdoseClass.SUSPECTED_OVERDOSE and drug.event is not None
    (fracture,) = reports("not_overdose.xml")
    assert fracture.classification is OverdoseClass.NOT_OVERDOSE


def test_nv_and_pn_values_are_absent_and_a_pertinent_negative_never_counts() -> None:
    (r,) = reports("nv_pn_values.xml")
    assert r.classification is OverdoseClass.OPIOID_OVERDOSE  # eSituation.11 T40.1X1A
    assert r.event is not None and r.event.patient is None
    assert "F11.120" not in r.event.suspected_substances, "the PN value is not a finding"
    assert (r.event.location.lat, r.event.location.zip) == (None, None)
    (negative,) = reports("pertinent_negative_only.xml")
    assert negative.classification is OverdoseClass.NOT_OVERDOSE


def test_a_file_with_several_reports_reads_them_all_in_order() -> None:
    found = reports("several_reports.xml")
    assert [r.classification.value for r in found] == [
        "opioid_overdose", "opioid_overdose", "suspected_overdose", "not_overdose",
        "opioid_overdose", "not_overdose",
    ]  # fmt: skip
    assert [r.report_id[-1] for r in found] == ["1", "2", "3", "4", "5", "6"]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("malformed.xml", "malformed XML"),
        ("xxe.xml", "unsafe XML refused"),
        ("entity_expansion.xml", "unsafe XML refused"),
    ],
)
def test_malformed_and_hostile_files_are_refused_with_a_reason(name: str, words: str) -> None:
    with pytest.raises(NemsisRefused, match=words):
        reports(name)


def test_size_and_depth_limits() -> None:
    with pytest.raises(NemsisRefused, match="larger than"):
        reports("several_reports.xml", max_bytes=2000)
    head = b'<EMSDataSet xmlns="http://www.nemsis.org"><Header><PatientCareReport>'
    deep = head + b"<a>" * 50 + b"</a>" * 50
    with pytest.raises(NemsisRefused, match="nests deeper"):
        list(read_reports(io.BytesIO(deep + b"</PatientCareReport></Header></EMSDataSet>")))
    with pytest.raises(NemsisRefused, match="not a NEMSIS EMSDataSet"):
        list(read_reports(io.BytesIO(b"<html><body/></html>")))


def test_a_big_export_is_streamed_not_held() -> None:
    """20,000 reports: the parser keeps each report only while it is being read."""
    import tracemalloc

    head = (CORPUS / "several_reports.xml").read_bytes()
    start = head.index(b"    <PatientCareReport")
    end = head.rindex(b"</PatientCareReport>") + len(b"</PatientCareReport>\n")
    body = head[start:end]
    big = head[:start] + body * 3400 + head[end:]
    tracemalloc.start()
    count = sum(1 for _ in read_reports(io.BytesIO(big)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 6 * 3400
    assert peak < len(big) / 4, f"peak {peak:,} bytes for a {len(big):,}-byte file"


@pytest.mark.parametrize(
    ("codes", "meds", "expected"),
    [
        (["T40.1X1A"], [], OverdoseClass.OPIOID_OVERDOSE),
        (["T40.411A"], [], OverdoseClass.OPIOID_OVERDOSE),
        (["T40.601A"], [], OverdoseClass.OPIOID_OVERDOSE),
        (["F11.20"], [], OverdoseClass.OPIOID_OVERDOSE),
        (["R40.20"], [("7242", "9916001")], OverdoseClass.OPIOID_OVERDOSE),
        (["R40.20"], [("197117", "9916001")], OverdoseClass.OPIOID_OVERDOSE),
        (["R40.20"], [("7242", "9916003")], OverdoseClass.NOT_OVERDOSE),  # not improved
        (["T40.5X1A"], [], OverdoseClass.SUSPECTED_OVERDOSE),  # cocaine: a drug, not opioid
        (["F14.10"], [], OverdoseClass.SUSPECTED_OVERDOSE),
        (["T51.0X1A"], [], OverdoseClass.NOT_OVERDOSE),  # alcohol is not in the default
        (["S72.001A"], [], OverdoseClass.NOT_OVERDOSE),
    ],
)
def test_classification(
    codes: list[str], meds: list[tuple[str, str]], expected: OverdoseClass
) -> None:
    assert classify(codes, meds) is expected


def test_program_follow_up_setting() -> None:
    o, s, n = (
        OverdoseClass.OPIOID_OVERDOSE,
        OverdoseClass.SUSPECTED_OVERDOSE,
        OverdoseClass.NOT_OVERDOSE,
    )
    assert followed_up(o, s) and followed_up(s, s) and followed_up(o, o)
    assert not followed_up(s, o) and not followed_up(n, s)
    assert classify(["T51.0X1A"], [], ("T51",)) is OverdoseClass.SUSPECTED_OVERDOSE

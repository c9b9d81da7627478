"""NEMSIS files as they really are: the namespace and the declared version checked, sex
from ePatient.25 and the deprecated ePatient.13 (the data dictionary's code lists), and
what a report holds that the event keeps (middle name, apartment, every phone, the
scene's words, the destination, the agency's name, the age, who gave naloxone).
The files are written here or in tests/data/nemsis/ from the NEMSIS v3.5.1 data
dictionary (build 250403 CP1)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from schemas.overdose_event import AgeUnit, OverdoseEvent, Patient
from services.ingest.nemsis import NemsisRefused, NemsisReport, read_reports

CORPUS = Path(__file__).resolve().parents[1] / "data" / "nemsis"
XSD = "XSDs/NEMSIS_XSDs/EMSDataSet_v3.xsd"


def location_of(version: str) -> str:
    return f"http://www.nemsis.org https://nemsis.org/media/nemsis_v3/{version}/{XSD}"


def export(
    patient: str = "",
    *,
    schema_location: str | None = location_of("3.5.1.250403CP1"),
    root: str = 'EMSDataSet xmlns="http://www.nemsis.org"',
    extra: str = "",
) -> bytes:
    """One overdose report (an F11 impression) with this ePatient content."""
    declared = f' xsi:schemaLocation="{schema_location}"' if schema_location else ""
    name = root.split()[0]
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<{root} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"{declared}>
  <Header>
    <DemographicGroup><dAgency.01>S54</dAgency.01><dAgency.02>EX-EMS-01</dAgency.02>
      <dAgency.04>54</dAgency.04></DemographicGroup>
    <PatientCareReport UUID="5f1b6e0a-0009-4a6e-9b1a-000000000009">
      <eRecord><eRecord.01>EX-PCR-9</eRecord.01></eRecord>
      <eTimes><eTimes.01>2026-11-20T22:14:00-05:00</eTimes.01></eTimes>
      <ePatient>{patient}</ePatient>
      <eScene><eScene.18>54</eScene.18><eScene.21>54011</eScene.21></eScene>
      <eSituation><eSituation.11>F11.920</eSituation.11></eSituation>{extra}
    </PatientCareReport>
  </Header>
</{name}>""".encode()


def read(data: bytes) -> list[NemsisReport]:
    return list(read_reports(io.BytesIO(data)))


def patient_of(data: bytes) -> Patient:
    (report,) = read(data)
    assert report.event is not None and report.event.patient is not None, report.problem
    return report.event.patient


# --- 1. the namespace ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("root", "words"),
    [
        ('EMSDataSet xmlns="http://www.example.org/ems"', "namespace 'http://www.example.org/ems'"),
        ("EMSDataSet", "in no XML namespace"),
        ('DEMDataSet xmlns="http://www.nemsis.org"', "DEMDataSet (agency demographics)"),
        ('StateDataSet xmlns="http://www.nemsis.org"', "StateDataSet"),
    ],
)
def test_a_file_outside_the_nemsis_namespace_is_refused_with_the_reason(
    root: str, words: str
) -> None:
    """Even when it holds an overdose: it is not read as reports with no codes."""
    with pytest.raises(NemsisRefused, match="not a NEMSIS EMSDataSet") as refused:
        read(export(root=root))
    assert words in str(refused.value)


def test_a_file_whose_structure_is_not_nemsis_v3_is_refused() -> None:
    v2 = b"""<EMSDataSet xmlns="http://www.nemsis.org"><Header><D01_01>X</D01_01>
        <Record><E01><E01_01>1</E01_01></E01></Record></Header></EMSDataSet>"""
    with pytest.raises(NemsisRefused, match="<D01_01> inside Header"):
        read(v2)
    empty = b'<EMSDataSet xmlns="http://www.nemsis.org"><Header><DemographicGroup/></Header>'
    with pytest.raises(NemsisRefused, match="holds no PatientCareReport"):
        read(empty + b"</EMSDataSet>")


# --- 2. the version --------------------------------------------------------------------


@pytest.mark.parametrize("version", ["3.5.0.191130CP1", "3.5.1.250403CP1", "3.5.1.250115"])
def test_v3_5_0_and_v3_5_1_builds_are_read(version: str) -> None:
    (report,) = read(export(schema_location=location_of(version)))
    assert report.event is not None and report.nemsis_version == version


@pytest.mark.parametrize(
    ("version", "named"),
    [("3.4.0.160713CP2", "v3.4.0.160713CP2"), ("3.3.4.140328", "v3.3.4"), ("3.6.0", "v3.6.0")],
)
def test_another_declared_version_is_refused_naming_it(version: str, named: str) -> None:
    with pytest.raises(NemsisRefused, match="is not accepted") as refused:
        read(export(schema_location=location_of(version)))
    assert named in str(refused.value) and "v3.5.0 and v3.5.1" in str(refused.value)


def test_a_file_that_declares_no_version_is_read_as_v3_5_unless_it_is_v3_4() -> None:
    for undeclared in (None, "http://www.nemsis.org EMSDataSet_v3.xsd"):
        (report,) = read(export(schema_location=undeclared))
        assert report.event is not None and report.nemsis_version is None
    v34 = "<eDisposition><eDisposition.12>4212033</eDisposition.12></eDisposition>"
    with pytest.raises(NemsisRefused, match=r"eDisposition\.12, an element of v3\.4"):
        read(export(schema_location=None, extra=v34))


# --- 3. sex ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "sex"), [("9919001", "female"), ("9919003", "male"), ("9919005", "unknown")]
)
def test_sex_is_read_from_epatient_25(code: str, sex: str) -> None:
    assert patient_of(export(f"<ePatient.25>{code}</ePatient.25>")).sex == sex


@pytest.mark.parametrize(
    ("code", "sex"),
    [
        ("9906001", "female"),
        ("9906003", "male"),
        ("9906005", "unknown"),  # Unknown (Unable to Determine)
        ("9906007", "transgender male"),  # Female-to-Male, Transgender Male
        ("9906009", "transgender female"),  # Male-to-Female, Transgender Female
        ("9906011", "other"),  # Other, neither exclusively male or female
    ],
)
def test_the_deprecated_epatient_13_is_read_with_its_own_code_list(code: str, sex: str) -> None:
    assert patient_of(export(f"<ePatient.13>{code}</ePatient.13>")).sex == sex


def test_epatient_25_comes_before_epatient_13_and_nil_values_are_no_sex() -> None:
    both = "<ePatient.13>9906001</ePatient.13><ePatient.25>9919003</ePatient.25>"
    assert patient_of(export(both)).sex == "male"
    refused = '<ePatient.03>Alex</ePatient.03><ePatient.25 xsi:nil="true" PN="8801019"/>'
    assert patient_of(export(refused)).sex is None
    assert (
        patient_of(export("<ePatient.03>Alex</ePatient.03><ePatient.13>123</ePatient.13>")).sex
        is None
    )


# --- 4. what a report holds is kept ----------------------------------------------------


def full() -> OverdoseEvent:
    with (CORPUS / "v351_full_report.xml").open("rb") as source:
        (report,) = list(read_reports(source))
    assert report.event is not None, report.problem
    return report.event


def test_the_middle_name_the_apartment_and_the_age_without_a_dob_are_kept() -> None:
    p = full().patient
    assert p is not None
    assert (p.first_name, p.middle_name, p.last_name) == ("Alex", "Jordan", "Testperson")
    assert p.dob is None and p.age is not None
    assert (p.age.value, p.age.unit, p.age.approximate) == (36, AgeUnit.YEARS, False)
    assert p.address is not None
    assert (p.address.address, p.address.address2) == ("1200 Example Ave", "Apt 4B")
    assert p.sex == "male" and p.language == "eng"


def test_every_phone_is_kept_and_the_first_stays_the_phone() -> None:
    p = full().patient
    assert p is not None
    assert p.phone == "304-555-0142"
    assert p.phones == ["304-555-0142", "304-555-0199"]
    one = patient_of(export("<ePatient.18>304-555-0142</ePatient.18>"))
    assert one.phone == "304-555-0142" and one.phones is None  # one number: no list


def test_the_scene_the_destination_and_the_agency_name_are_kept() -> None:
    e = full()
    assert (e.location.address, e.location.address2) == ("400 River Rd", "Room 12")
    assert e.location.description == "Riverside Motel; behind the ice machine"
    assert (e.location.lat, e.location.zip, e.location.state) == (38.4192, "25701", "WV")
    assert e.destination is not None
    assert (e.destination.name, e.destination.address) == (
        "Cabell Example Hospital", "1340 Example Blvd"
    )  # fmt: skip
    assert (e.destination.address2, e.destination.state, e.destination.zip) == (
        "Emergency entrance", "WV", "25701"
    )  # fmt: skip
    assert e.agency_name == "Example County EMS" and e.agency_id == "EX-EMS-01"
    assert e.disposition == "4227001,4228001,4229001,4230001"


def test_given_by_is_the_dictionary_label_of_emedications_10() -> None:
    n = full().naloxone
    assert (n.administered, n.doses, n.given_by) == (True, 2, "Law Enforcement")
    group = (
        "<eMedications><eMedications.MedicationGroup><eMedications.03>7242</eMedications.03>"
        "<eMedications.07>9916001</eMedications.07><eMedications.10>{}</eMedications.10>"
        "</eMedications.MedicationGroup></eMedications>"
    )
    for code, label in (("9905007", "Paramedic"), ("9905049", "Family Member")):
        (report,) = read(export(extra=group.format(code)))
        assert report.event is not None and report.event.naloxone.given_by == label


def test_an_apartment_element_an_approximate_age_and_overlong_words_are_kept_as_they_fit() -> None:
    scene = (
        "<eScene><eScene.15>9 Main St</eScene.15><eScene.16>Suite 3</eScene.16>"
        f"<eScene.20>{'directions ' * 30}</eScene.20><eScene.21>54011</eScene.21></eScene>"
    )
    age = '<ePatient.AgeGroup><ePatient.15 PN="8801029">40</ePatient.15></ePatient.AgeGroup>'
    (report,) = read(export(age, extra=scene))
    e = report.event
    assert e is not None, report.problem
    assert e.location.address2 == "Suite 3"
    assert e.location.description is not None and len(e.location.description) <= 200
    assert e.patient is not None and e.patient.age is not None
    assert (e.patient.age.value, e.patient.age.unit, e.patient.age.approximate) == (40, None, True)


def test_a_json_event_of_before_still_reads_and_phones_lead_with_the_phone() -> None:
    old = {"first_name": "Alex", "phone": "+13045550142", "address": {"zip": "25701"}}
    assert Patient.model_validate(old).phones is None
    listed = Patient.model_validate({"phones": ["+13045550142", "+13045550199"]})
    assert listed.phone == "+13045550142"
    both = Patient.model_validate({"phone": "+13045550199", "phones": ["+13045550142"]})
    assert both.phones == ["+13045550199", "+13045550142"] and both.phone == "+13045550199"

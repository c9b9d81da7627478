"""NEMSIS v3.5 code lists the reader maps to words, as the data dictionary gives them
(NEMSIS Data Dictionary v3.5.1, build 250403 CP1: ePatient.13, ePatient.16, ePatient.25,
eMedications.10), and the versions it accepts (pure)."""

from __future__ import annotations

import re

NAMESPACE = "http://www.nemsis.org"
ACCEPTED_VERSIONS = ("3.5.0", "3.5.1")

# ePatient.25 Sex (v3.5.1), read first
SEX = {"9919001": "female", "9919003": "male", "9919005": "unknown"}
# ePatient.13 Gender (deprecated in v3.5.1, the only one in v3.5.0), read when .25 is absent
GENDER = {
    "9906001": "female",
    "9906003": "male",
    "9906005": "unknown",  # Unknown (Unable to Determine)
    "9906007": "transgender male",  # Female-to-Male, Transgender Male
    "9906009": "transgender female",  # Male-to-Female, Transgender Female
    "9906011": "other",  # Other, neither exclusively male or female
}
# ePatient.16 Age Units
AGE_UNITS = {
    "2516001": "days",
    "2516003": "hours",
    "2516005": "minutes",
    "2516007": "months",
    "2516009": "years",
}
APPROXIMATE = "8801029"  # the PN "Approximate" an age may carry with its value
# eMedications.10 Role/Type of Person Administering Medication
GIVEN_BY = {
    "9905001": "Advanced Emergency Medical Technician (AEMT)",
    "9905002": "Emergency Medical Technician - Intermediate",
    "9905003": "Emergency Medical Responder (EMR)",
    "9905005": "Emergency Medical Technician (EMT)",
    "9905007": "Paramedic",
    "9905019": "Other Healthcare Professional",
    "9905021": "Other Non-Healthcare Professional",
    "9905025": "Physician",
    "9905027": "Respiratory Therapist",
    "9905029": "Student",
    "9905031": "Critical Care Paramedic",
    "9905033": "Community Paramedicine",
    "9905035": "Nurse Practitioner",
    "9905037": "Physician Assistant",
    "9905039": "Licensed Practical Nurse (LPN)",
    "9905041": "Registered Nurse",
    "9905043": "Patient",
    "9905045": "Lay Person",
    "9905047": "Law Enforcement",
    "9905049": "Family Member",
    "9905051": "Fire Personnel (non EMS)",
}
# Elements of v3.4 that v3.5.0 replaced: in a file that declares no version they tell a
# v3.4 file (eDisposition.12 Incident/Patient Disposition became eDisposition.27-.30)
V34_ONLY = {"eDisposition.12": "eDisposition.27-.30"}

# "3.5.1.250403CP1", "3.5.0.191130CP1", "3.4.0.160713CP2" in the XSD address of
# xsi:schemaLocation (https://nemsis.org/media/nemsis_v3/3.5.1.250115/XSDs/...)
_VERSION = re.compile(r"(?<![\d.])(\d+\.\d+\.\d+)(?:\.(\d{6})(CP\d+)?)?(?![\d])")


def declared_version(schema_location: str | None) -> str | None:
    """The NEMSIS version (x.y.z, with its build when given) that `xsi:schemaLocation`
    names for the NEMSIS namespace (or, failing a pair for it, anywhere in it)."""
    if not schema_location:
        return None
    words = schema_location.split()
    pairs = dict(zip(words[::2], words[1::2], strict=False))
    for text in (pairs.get(NAMESPACE), schema_location):
        if text and (m := _VERSION.search(text)):
            return ".".join(p for p in (m.group(1), m.group(2)) if p) + (m.group(3) or "")
    return None


def accepted(version: str) -> bool:
    """3.5.0 and 3.5.1, whatever their build (3.5.1.250403CP1)."""
    return ".".join(version.split(".")[:3]) in ACCEPTED_VERSIONS

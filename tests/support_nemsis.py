"""NEMSIS exports of many small overdose reports, written streaming up to a size, and the
peak memory of reading one whole, as the gateway or `qrt publish --nemsis` reads it.

    .venv/bin/python -m tests.support_nemsis gateway|cli FILE

reads FILE in this fresh process and prints, as JSON, the reports and events it kept
and the process's own peak RSS (`VmHWM`; `ru_maxrss` would carry over the parent's RSS
at the fork) before and after reading. `gateway`: the body as `_body` collects it (a
bytearray, then bytes), then `collect_nemsis`; `cli`: the file opened, then
`read_nemsis` with what `publish_nemsis` gives it (its reading part, no broker)."""

from __future__ import annotations

import io
import json
import sys
import time
import uuid
from pathlib import Path
from typing import IO

HEAD = b"""<?xml version="1.0" encoding="UTF-8"?>
<EMSDataSet xmlns="http://www.nemsis.org">
<Header><DemographicGroup><dAgency.01>S54-EX001</dAgency.01><dAgency.02>EX-EMS-01</dAgency.02>
</DemographicGroup>
"""
TAIL = b"</Header></EMSDataSet>\n"
AT = "2026-11-20T22:14:00-05:00"

# The least a report needs to become an event: an id, a call time, an opioid impression,
# a county (about 250 bytes: the most events a file of a given size can hold).
SMALL = (
    '<PatientCareReport UUID="{id}"><eTimes><eTimes.01>{at}</eTimes.01></eTimes>'
    "<eSituation><eSituation.11>F11.920</eSituation.11></eSituation>"
    "<eScene><eScene.21>54011</eScene.21></eScene></PatientCareReport>\n"
)
# A report as ePCR systems write them for an overdose: patient, phones, naloxone, scene,
# destination (about 2 KB).
FULL = (
    '<PatientCareReport UUID="{id}"><eRecord><eRecord.01>PCR-{n}</eRecord.01></eRecord>'
    "<eResponse><eResponse.AgencyGroup><eResponse.01>S54-EX001</eResponse.01>"
    "<eResponse.02>Example County EMS</eResponse.02></eResponse.AgencyGroup>"
    "<eResponse.03>EMS-26-{n}</eResponse.03></eResponse>"
    "<eTimes><eTimes.01>{at}</eTimes.01><eTimes.03>{at}</eTimes.03></eTimes>"
    "<ePatient><ePatient.PatientNameGroup><ePatient.02>Testperson</ePatient.02>"
    "<ePatient.03>Alex</ePatient.03><ePatient.04>Jordan</ePatient.04>"
    "</ePatient.PatientNameGroup>"
    '<ePatient.05 StreetAddress2="Apt 4">1200 Example Ave</ePatient.05>'
    "<ePatient.07>54011</ePatient.07><ePatient.08>54</ePatient.08>"
    "<ePatient.09>25701</ePatient.09><ePatient.AgeGroup><ePatient.15>36</ePatient.15>"
    "<ePatient.16>2516009</ePatient.16></ePatient.AgeGroup>"
    "<ePatient.17>1990-01-02</ePatient.17>"
    '<ePatient.18 PhoneNumberType="9913009">304-555-0142</ePatient.18>'
    '<ePatient.18 PhoneNumberType="9913003">304-555-0199</ePatient.18>'
    "<ePatient.24>eng</ePatient.24><ePatient.25>9919003</ePatient.25></ePatient>"
    "<eSituation><eSituation.09>R06.89</eSituation.09><eSituation.11>T40.1X1A</eSituation.11>"
    "</eSituation><eMedications><eMedications.MedicationGroup>"
    "<eMedications.01>{at}</eMedications.01><eMedications.02>9923001</eMedications.02>"
    "<eMedications.03>7242</eMedications.03><eMedications.DosageGroup>"
    "<eMedications.05>4</eMedications.05><eMedications.06>3706021</eMedications.06>"
    "</eMedications.DosageGroup><eMedications.07>9916001</eMedications.07>"
    "<eMedications.10>9905019</eMedications.10></eMedications.MedicationGroup>"
    "</eMedications><eScene><eScene.11>38.4192,-82.4452</eScene.11>"
    "<eScene.15>1200 Hal Greer Blvd</eScene.15><eScene.17>1554858</eScene.17>"
    "<eScene.18>54</eScene.18><eScene.19>25701</eScene.19><eScene.21>54011</eScene.21>"
    "</eScene><eDisposition><eDisposition.01>Example Medical Center</eDisposition.01>"
    "<eDisposition.03>1340 Hal Greer Blvd</eDisposition.03>"
    "<eDisposition.05>54</eDisposition.05><eDisposition.07>25701</eDisposition.07>"
    "<eDisposition.27>4227001</eDisposition.27><eDisposition.30>4230009</eDisposition.30>"
    "</eDisposition></PatientCareReport>\n"
)
SHAPES = {"small": SMALL, "full": FULL}


def report_id(n: int) -> str:
    return str(uuid.UUID(int=(0x5F1B6E0A << 96) | n))


def write_reports(out: IO[bytes], size: int, shape: str = SMALL, at: str = AT) -> int:
    """An EMSDataSet of as many reports of `shape` as fit in `size` bytes, written as it
    goes (nothing of it is held); how many reports it holds."""
    out.write(HEAD)
    written, n = len(HEAD) + len(TAIL), 0
    while True:
        report = shape.format(id=report_id(n), n=n, at=at).encode()
        if written + len(report) > size:
            break
        out.write(report)
        written, n = written + len(report), n + 1
    out.write(TAIL)
    return n


def export(count: int, shape: str = SMALL, at: str = AT) -> bytes:
    """An EMSDataSet of `count` reports of `shape`."""
    reports = b"".join(shape.format(id=report_id(n), n=n, at=at).encode() for n in range(count))
    return HEAD + reports + TAIL


def _own_peak_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _gateway_body(path: Path) -> bytes:
    body = bytearray()
    with path.open("rb") as source:
        while chunk := source.read(64 * 1024):  # as the request's stream arrives
            body += chunk
    return bytes(body)


def measure(how: str, path: Path) -> dict[str, object]:
    from services.ingest.nemsis_batch import NemsisSummary, collect_nemsis, read_nemsis
    from services.programs import load_programs
    from services.settings import Settings

    settings, programs = Settings(), load_programs(None)
    per_report = settings.nemsis_max_elements_per_report
    before, started = _own_peak_mb(), time.monotonic()
    if how == "gateway":
        body = _gateway_body(path)
        summary, ready = collect_nemsis(
            io.BytesIO(body), programs, own_agency="EX-EMS-01",
            max_bytes=settings.gateway_max_nemsis_bytes, max_elements=per_report,
        )  # fmt: skip
    else:
        summary = NemsisSummary()
        with path.open("rb") as source:
            ready = read_nemsis(source, programs, summary, max_elements=per_report)
    return {
        "reports": summary.reports, "events": len(ready), "file_bytes": path.stat().st_size,
        "before_mb": round(before, 1), "peak_mb": round(_own_peak_mb(), 1),
        "seconds": round(time.monotonic() - started, 1),
    }  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], Path(sys.argv[2]))))

"""Memory per NEMSIS report is bounded: one 40 MB report stuffed with empty elements is
refused at the element cap, and with the cap lifted the reader still holds only what it
maps (every other element is dropped as it ends). Peak RSS is measured in a fresh Python
process as its own peak (`VmHWM` of /proc/self/status); `resource.getrusage(...)
.ru_maxrss` is shown beside it, but Linux carries the parent's (pytest's) RSS over into it
at the fork, so it bounds nothing here. Before the cap and the dropping, the first file
below took 874 MB (the issue measured 937 MB); now 33 MB, the interpreter's own 32.

A whole file is read and checked before anything of it is published, so what it keeps
grows with its reports: a gateway upload at its 50 MiB limit, of the smallest overdose
reports (204,000 of them), kept every event as a model object: 721 MB; each is now kept
as its JSON bytes (services/ingest/nemsis_batch.py `Checked`). The 200 MB file of
`qrt publish --nemsis` takes about a minute to read: tests/benchmarks/bench_nemsis_memory.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from services.ingest.nemsis import MAX_ELEMENTS
from services.settings import Settings
from tests.support_nemsis import write_reports

ROOT = Path(__file__).resolve().parents[2]
SIZE = 40 * 1000 * 1000
BOUND_MB = 200  # the stated bound for one stuffed 40 MB file
GATEWAY_BOUND_MB = 250  # the stated bound for a 50 MiB gateway upload of small reports
HEAD = b"""<?xml version="1.0" encoding="UTF-8"?>
<EMSDataSet xmlns="http://www.nemsis.org">
<Header><DemographicGroup><dAgency.02>EX-EMS-01</dAgency.02></DemographicGroup>
<PatientCareReport UUID="5f1b6e0a-0040-4a6e-9b1a-000000000040">
<eTimes><eTimes.01>2026-11-20T22:14:00-05:00</eTimes.01></eTimes>
<eSituation><eSituation.11>F11.920</eSituation.11></eSituation><eVitals>"""
TAIL = b"</eVitals></PatientCareReport></Header></EMSDataSet>"

PROBE = """
import json, resource, sys
from services.ingest.nemsis import NemsisRefused, read_reports


def own_peak_mb():  # this process's own peak RSS (VmHWM): ru_maxrss also counts the
    with open("/proc/self/status") as status:  # parent's RSS at the fork
        line = next(x for x in status if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


path, cap = sys.argv[1], int(sys.argv[2])
before = own_peak_mb()
try:
    with open(path, "rb") as source:
        found = [r.classification.value for r in read_reports(source, max_elements=cap)]
    outcome = {"read": found}
except NemsisRefused as exc:
    outcome = {"refused": str(exc)}
maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({**outcome, "before_mb": before, "peak_mb": own_peak_mb(), "maxrss_mb": maxrss}))
"""


def stuffed(path: Path, element: bytes) -> Path:
    """One report of SIZE bytes, nearly all of it this empty element, again and again."""
    with path.open("wb") as out:
        out.write(HEAD)
        out.write(element * ((SIZE - len(HEAD) - len(TAIL)) // len(element)))
        out.write(TAIL)
    assert path.stat().st_size > SIZE - 64
    return path


def measure(path: Path, cap: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), str(cap)],
        capture_output=True, text=True, cwd=ROOT, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_stuffed_report_is_refused_at_the_element_cap_under_the_bound(tmp_path: Path) -> None:
    """10 million `<e/>` in one report: refused after 20,000, in a fraction of a second."""
    found = measure(stuffed(tmp_path / "stuffed.xml", b"<e/>"), MAX_ELEMENTS)
    assert "more than 20,000 XML elements" in str(found.get("refused")), found
    peak, before = float(str(found["peak_mb"])), float(str(found["before_mb"]))
    assert peak < BOUND_MB and peak - before < 32, found


def test_with_the_cap_lifted_unread_elements_are_dropped_as_they_end(tmp_path: Path) -> None:
    """1.9 million elements the mapping never reads: the report is read whole, and the
    memory stays that of the interpreter (each element is dropped when it ends)."""
    found = measure(stuffed(tmp_path / "stuffed.xml", b"<eVitals.VitalGroup/>"), 10_000_000)
    assert found.get("read") == ["opioid_overdose"], found
    peak, before = float(str(found["peak_mb"])), float(str(found["before_mb"]))
    assert peak < BOUND_MB and peak - before < 32, found


def test_a_gateway_upload_of_many_small_reports_stays_under_the_bound(tmp_path: Path) -> None:
    """50 MiB of the smallest overdose reports, read as the gateway reads an upload (the
    body in memory, every report checked, every event kept until the file has been read
    to its end): about 182 MB, of which the body is 50 and the interpreter 38."""
    limit = Settings.model_fields["gateway_max_nemsis_bytes"].default
    path = tmp_path / "many.xml"
    with path.open("wb") as out:
        count = write_reports(out, limit)
    done = subprocess.run(
        [sys.executable, "-m", "tests.support_nemsis", "gateway", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["reports"] == found["events"] == count > 150_000, found
    assert found["file_bytes"] > limit - 1024, found
    assert float(found["peak_mb"]) < GATEWAY_BOUND_MB, found

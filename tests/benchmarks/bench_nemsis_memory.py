"""Peak memory of reading a whole NEMSIS export at its size limit (a script, not a test).

    .venv/bin/python -m tests.benchmarks.bench_nemsis_memory [--only gateway|cli]

A file as large as the limit allows, of reports all alike, written streaming into a
temporary directory: the gateway's upload (QRT_GATEWAY_MAX_NEMSIS_BYTES, 50 MiB) and
the file of `qrt publish --nemsis` (200 MiB, services/ingest/nemsis.py MAX_BYTES), each
of the smallest overdose reports (about 250 bytes: the most events a file can hold)
and of full ones (about 2 KB: patient, phones, naloxone, scene, destination). Each is
read whole, as a file is before anything of it is published, in a fresh process
(tests/support_nemsis.py): its own peak RSS (VmHWM) after, against a stated bound. The
sending after it (the CLI's kafka-python futures, SEND_AT_ONCE at a time; the gateway's
500 at a time) is not measured here. Writes tests/benchmarks/results/nemsis_memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from services.ingest.nemsis import MAX_BYTES
from services.settings import Settings
from tests.benchmarks.common import machine_info
from tests.support_nemsis import SHAPES, write_reports

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "results" / "nemsis_memory.json"
LIMITS = {"gateway": Settings.model_fields["gateway_max_nemsis_bytes"].default, "cli": MAX_BYTES}
BOUNDS_MB = {"gateway": 250, "cli": 450}  # the stated bounds, of the smallest reports


def run(how: str, shape: str, tmp: Path) -> dict[str, Any]:
    path = tmp / f"{how}-{shape}.xml"
    with path.open("wb") as out:
        count = write_reports(out, LIMITS[how], SHAPES[shape])
    done = subprocess.run(
        [sys.executable, "-m", "tests.support_nemsis", how, str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=900, check=False,
    )  # fmt: skip
    path.unlink()
    if done.returncode != 0:
        raise SystemExit(f"{how} {shape}: {done.stderr}")
    found: dict[str, Any] = json.loads(done.stdout)
    if found["reports"] != count or found["events"] != count:
        raise SystemExit(f"{how} {shape}: {count} reports written, {found} read")
    found.update(path=how, reports_shape=shape, bound_mb=BOUNDS_MB[how])
    found["within_bound"] = found["peak_mb"] < BOUNDS_MB[how]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(LIMITS))
    args = parser.parse_args()
    info = machine_info()
    results = []
    with tempfile.TemporaryDirectory(prefix="nemsis-memory-") as tmp:
        for how in [args.only] if args.only else ["gateway", "cli"]:
            for shape in SHAPES:
                found = run(how, shape, Path(tmp))
                results.append(found)
                print(
                    f"{how:8} {shape:5} {found['file_bytes'] / 1e6:6.1f} MB "
                    f"{found['reports']:>8,} reports: peak {found['peak_mb']:6.1f} MB "
                    f"(interpreter {found['before_mb']:.1f}; bound {found['bound_mb']}) "
                    f"in {found['seconds']:.1f} s",
                    flush=True,
                )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"machine": info, "results": results}, indent=2) + "\n")
    print(f"written: {OUT.relative_to(ROOT)}")
    return 0 if all(r["within_bound"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

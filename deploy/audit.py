"""`make audit`: known vulnerabilities in the locked dependencies (pip-audit), before a
release. It fails, saying why, when the advisory service cannot be reached or could not
audit every package: "no known vulnerabilities" is only said when it is true."""

from __future__ import annotations

import json
import subprocess
import sys

SERVICE = "osv"  # pip-audit's OSV database; `pypi` is the other


def main(lock: str, pip_audit: str) -> int:
    done = subprocess.run(
        [pip_audit, "-r", lock, "--require-hashes", "--disable-pip", "--progress-spinner",
         "off", "-s", SERVICE, "-f", "json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"audit FAILED: the advisory service ({SERVICE}) could not be asked: {last}")
        return 2
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if d.get("skip_reason")]
    if skipped or not deps:
        print(f"audit FAILED: {len(skipped)} of {len(deps)} packages could not be audited:")
        for d in skipped[:10]:
            print(f"  {d['name']} {d.get('version', '')}: {d['skip_reason']}")
        return 2
    found = [(d["name"], d["version"], v["id"]) for d in deps for v in d.get("vulns", [])]
    for name, version, vuln in found:
        print(f"  {name} {version}: {vuln}")
    word = "vulnerability" if len(found) == 1 else "vulnerabilities"
    print(f"audit: {len(deps)} packages, {len(found)} known {word}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

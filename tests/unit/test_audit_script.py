"""`make audit` says "no known vulnerabilities" only when every package was audited."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def fake_pip_audit(tmp_path: Path, report: object | None, exit_code: int = 0) -> Path:
    script = tmp_path / "pip-audit"
    out = json.dumps(report) if report is not None else ""
    err = "" if report is not None else "ConnectionError: Failed to resolve 'api.osv.dev'"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nprint({out!r})\nprint({err!r}, file=sys.stderr)\n"
        f"sys.exit({exit_code})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def run(tool: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "audit.py"), "requirements.lock", str(tool)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("report", "code", "said"),
    [
        (None, 2, "could not be asked"),
        ({"dependencies": [{"name": "fastapi", "version": "1", "skip_reason": "not found"}]}, 2,
         "1 of 1 packages could not be audited"),
        ({"dependencies": []}, 2, "could not be audited"),
        ({"dependencies": [{"name": "fastapi", "version": "1", "vulns": [{"id": "PYSEC-1"}]}]},
         1, "1 known vulnerability"),
        ({"dependencies": [{"name": "fastapi", "version": "1", "vulns": []}]}, 0,
         "0 known vulnerabilities"),
    ],
)  # fmt: skip
def test_the_audit_fails_unless_every_package_was_audited(
    tmp_path: Path, report: object | None, code: int, said: str
) -> None:
    done = run(fake_pip_audit(tmp_path, report, exit_code=1 if report is None else 0))
    assert done.returncode == code, done.stdout + done.stderr
    assert said in done.stdout

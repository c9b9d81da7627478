"""Least privilege from the command line: agency keys say which program they feed (and
one for an agency no program lists is refused unless asked for), a user's tokens are
listed and revoked one by one, and what the CLI creates is private to its user."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from services.runtime.supervisor import private
from tests.support import ROOT


def qrt(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL",
                                                            "KAFKA_BOOTSTRAP_SERVERS"}}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "--data-dir", str(data_dir), *args],
        env=env, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_agency_keys_say_which_program_they_feed(tmp_path: Path) -> None:
    assert qrt(tmp_path, "migrate").returncode == 0
    refused = qrt(tmp_path, "agency", "create", "ELSEWHERE-EMS")
    assert refused.returncode == 2 and "no program lists agency 'ELSEWHERE-EMS'" in refused.stderr
    made = qrt(tmp_path, "agency", "create", "ELSEWHERE-EMS", "--unlisted")
    assert made.returncode == 0 and "routed by the event's county" in made.stdout
    listed = qrt(tmp_path, "agency", "create", "EX-EMS-01", "--label", "vendor")
    assert listed.returncode == 0 and "feeding program example" in listed.stdout
    keys = qrt(tmp_path, "agency", "list")
    assert keys.returncode == 0 and "2 key(s)" in keys.stdout
    lines = {line.split()[1]: line for line in keys.stdout.splitlines()[1:]}
    assert "example" in lines["EX-EMS-01"] and "no program lists it" in lines["ELSEWHERE-EMS"]
    key_id = lines["EX-EMS-01"].split()[0]
    assert qrt(tmp_path, "agency", "revoke", key_id).returncode == 0
    assert "revoked" in qrt(tmp_path, "agency", "list").stdout


def test_tokens_are_listed_and_revoked_one_by_one(tmp_path: Path) -> None:
    assert qrt(tmp_path, "migrate").returncode == 0
    made = qrt(tmp_path, "user", "create", "peer1", "--role", "outreach", "--program", "example")
    assert made.returncode == 0, made.stderr
    for label in ("laptop", "phone"):
        assert qrt(tmp_path, "user", "token", "peer1", "--label", label).returncode == 0
    listed = qrt(tmp_path, "user", "tokens", "peer1")
    assert "2 token(s)" in listed.stdout and "qrt_" not in listed.stdout, "never the token"
    phone = next(line.split()[0] for line in listed.stdout.splitlines() if "phone" in line)
    assert qrt(tmp_path, "user", "revoke-token", "peer1", phone).returncode == 0
    after = qrt(tmp_path, "user", "tokens", "peer1").stdout
    assert "revoked" in next(line for line in after.splitlines() if "phone" in line)
    assert qrt(tmp_path, "user", "revoke-token", "peer1", phone).returncode == 1
    ended = qrt(tmp_path, "user", "end-sessions", "peer1")
    assert ended.returncode == 0 and "1 token(s) revoked" in ended.stdout
    weak = qrt(tmp_path, "user", "password", "peer1", "--password-stdin", stdin=" " * 12 + "\n")
    assert weak.returncode != 0 and "only spaces" in weak.stderr


def test_what_the_cli_makes_is_private_to_its_user(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert qrt(data, "migrate").returncode == 0
    assert mode(data) == 0o700
    assert mode(data / "qrt.sqlite3") == 0o600
    assert all(mode(p) & 0o077 == 0 for p in data.rglob("*")), "nothing for group or others"


def test_an_open_data_directory_is_closed(tmp_path: Path) -> None:
    data = tmp_path / "old"
    (data / "logs").mkdir(parents=True)
    (data / "logs" / "api.log").write_text("x")
    data.chmod(0o755)
    (data / "logs" / "api.log").chmod(0o644)
    private(data)
    assert (mode(data), mode(data / "logs"), mode(data / "logs" / "api.log")) == (
        0o700,
        0o700,
        0o600,
    )

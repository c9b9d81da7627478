"""Which worker processes `qrt up` runs (all the roles in one, or one per role), and how
`qrt status` and the lag readings find out which ones run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services import cli
from services.runtime.run_files import (
    WORKER_ROLES,
    ready_file,
    record_workers,
    worker_processes,
)
from services.runtime.supervisor import Stack
from services.runtime.system_state import GROUPS, ONE_GROUP, running_groups
from services.settings import Settings

SEPARATE_GROUPS = ["qrt-intake", "qrt-cases", "qrt-sms"]


class Execed(Exception):
    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.argv, self.env = argv, env


@pytest.fixture
def exec_of_up(monkeypatch: pytest.MonkeyPatch) -> Any:
    """`qrt up` checks its settings, then becomes the supervisor: what it would exec."""

    def execve(_path: str, argv: list[str], env: dict[str, str]) -> None:
        raise Execed(argv, env)

    monkeypatch.setattr(cli.os, "execve", execve)

    def run(*argv: str) -> Execed:
        with pytest.raises(Execed) as done:
            cli.main(["up", *argv])
        return done.value

    return run


def test_up_runs_one_worker_process_unless_told_otherwise(
    exec_of_up: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("QRT_UP_WORKERS", raising=False)
    default = exec_of_up("--api-port", "0", "--data-dir", str(tmp_path))
    assert default.argv[1:] == ["-m", "services.runtime.supervisor", "--api-port", "0"]
    assert default.env["QRT_DATA_DIR"] == str(tmp_path)
    flag = exec_of_up("--separate-workers", "--data-dir", str(tmp_path))
    assert flag.argv[-1] == "--separate-workers"
    monkeypatch.setenv("QRT_UP_WORKERS", "separate")
    assert exec_of_up("--data-dir", str(tmp_path)).argv[-1] == "--separate-workers"
    monkeypatch.setenv("QRT_UP_WORKERS", "three")
    with pytest.raises(SystemExit, match="QRT_UP_WORKERS"):
        cli.main(["up", "--data-dir", str(tmp_path)])


@pytest.mark.parametrize(
    ("separate", "children"),
    [
        (False, [("workers", ["worker", "all"])]),
        (True, [(role, ["worker", role]) for role in WORKER_ROLES]),
    ],
)
def test_the_supervisors_children(
    tmp_path: Path, separate: bool, children: list[tuple[str, list[str]]]
) -> None:
    stack = Stack(Settings(data_dir=tmp_path), 0, print, separate=separate)
    made = stack._children(tmp_path)
    assert [(c.name, c.argv[3:]) for c in made[:-1]] == children
    assert made[-1].name == "api"
    assert [c.log_path.name for c in made[:-1]] == [f"{name}.log" for name, _ in children]


def test_status_shows_the_worker_processes_that_run(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert worker_processes(settings) == WORKER_ROLES  # nothing runs: the roles, not ready
    ready_file(settings, "all").write_text("4 partitions\n")
    assert worker_processes(settings) == ("all",)  # started by hand
    ready_file(settings, "intake").write_text("4 partitions\n")
    assert worker_processes(settings) == ("all", *WORKER_ROLES)
    record_workers(settings, WORKER_ROLES)  # what `qrt up` said wins
    assert worker_processes(settings) == WORKER_ROLES
    record_workers(settings, ("all",))
    assert worker_processes(settings) == ("all",)


def test_lag_is_read_for_the_groups_that_run(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert GROUPS[ONE_GROUP] == tuple(t for g in SEPARATE_GROUPS for t in GROUPS[g])
    assert running_groups(settings, set()) == SEPARATE_GROUPS  # production's default
    assert running_groups(settings, {"qrt-cases"}) == SEPARATE_GROUPS
    assert running_groups(settings, {ONE_GROUP}) == [ONE_GROUP]
    assert running_groups(settings, {ONE_GROUP, "qrt-intake"}) == [ONE_GROUP, *SEPARATE_GROUPS]
    record_workers(settings, ("all",))  # `qrt up` says: one worker; stale groups left out
    assert running_groups(settings, {"qrt-intake"}) == [ONE_GROUP]
    record_workers(settings, WORKER_ROLES)
    assert running_groups(settings, {ONE_GROUP}) == SEPARATE_GROUPS

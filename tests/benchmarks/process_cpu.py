"""A running stack's process tree (Linux /proc), by role: which part of `qrt up` takes
the cores during a benchmark, and which processes are its workers."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _role(pid: int) -> str:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    words = [a.decode(errors="replace") for a in args if a]
    if "services.cli" in words:
        rest = words[words.index("services.cli") + 1 :]
        return " ".join(rest[:2]) if rest[:1] == ["worker"] else rest[0] if rest else "qrt"
    return Path(words[0]).name.split("-")[0] if words else str(pid)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def tree(root: int) -> dict[int, str]:
    """`root` and every descendant: pid -> role ("api", "worker cases", "tansu", ...)."""
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            found[pid] = _role(pid)
        except OSError:  # ended meanwhile
            continue
        todo += _children(pid)
    return found


def tree_cpu(root: int) -> dict[str, float]:
    """CPU seconds so far of `root` and every descendant, summed by role."""
    totals: dict[str, float] = {}
    for pid, role in tree(root).items():
        try:
            totals[role] = totals.get(role, 0.0) + _cpu_s(pid)
        except OSError:
            continue
    return totals


def cores_used(
    before: dict[str, float], after: dict[str, float], seconds: float
) -> dict[str, float]:
    """Average cores each role used between two `tree_cpu` readings, busiest first."""
    used = {r: (after[r] - before.get(r, 0.0)) / seconds for r in after}
    return {r: round(c, 2) for r, c in sorted(used.items(), key=lambda x: -x[1])}

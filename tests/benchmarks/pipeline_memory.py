"""Resident memory of a running stack: every process under `qrt up` (supervisor, API,
workers, embedded broker, whatever they are at the time), read from Linux /proc.

RSS (VmRSS) is what the targets count; the sum counts a page shared by two processes
twice. PSS (smaps_rollup) divides shared pages among their processes, so its sum is
what the stack takes from the machine; both are reported.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.benchmarks.process_cpu import tree

KIB_PER_MB = 1024.0


def label(pid: int) -> str:
    """A process by what it runs: "supervisor", "api", "worker all", "tansu", ..."""
    words = [
        w.decode(errors="replace")
        for w in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if w
    ]
    if "-m" in words[:-1]:
        module, rest = words[words.index("-m") + 1], words[words.index("-m") + 2 :]
        if module == "services.cli":
            return " ".join(rest[:2]) if rest[:1] == ["worker"] else rest[0] if rest else "qrt"
        return module.rsplit(".", 1)[-1]  # services.runtime.supervisor -> supervisor
    return Path(words[0]).name.split("-")[0] if words else str(pid)


def _kib(path: Path, field: str) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def snapshot(root: int) -> dict[str, Any]:
    """RSS and PSS of `root` and every descendant now, by process and summed."""
    rows: list[dict[str, Any]] = []
    for pid in sorted(tree(root)):
        try:
            name = label(pid)
            rss = _kib(Path(f"/proc/{pid}/status"), "VmRSS:")
            pss = _kib(Path(f"/proc/{pid}/smaps_rollup"), "Pss:")
        except (OSError, IndexError):  # ended meanwhile
            continue
        rows.append(
            {
                "pid": pid,
                "process": name,
                "rss_mb": round(rss / KIB_PER_MB, 1),
                "pss_mb": round(pss / KIB_PER_MB, 1),
            }
        )
    return {
        "rss_mb": round(sum(r["rss_mb"] for r in rows), 1),
        "pss_mb": round(sum(r["pss_mb"] for r in rows), 1),
        "processes": rows,
    }


def settled(root: int, seconds: float, every_s: float = 1.0) -> dict[str, Any]:
    """Sample for `seconds` and return the last reading, with the highest total seen."""
    deadline = time.monotonic() + seconds
    reading = snapshot(root)
    highest = reading["rss_mb"]
    while time.monotonic() < deadline:
        time.sleep(min(every_s, max(0.0, deadline - time.monotonic())))
        reading = snapshot(root)
        highest = max(highest, reading["rss_mb"])
    return {**reading, "settle_s": seconds, "max_rss_mb_while_settling": highest}


def brief(reading: dict[str, Any]) -> str:
    """'312 MB RSS (PSS 260): supervisor 36, api 110, worker all 117, tansu 17'."""
    parts = ", ".join(f"{r['process']} {r['rss_mb']:.0f}" for r in reading["processes"])
    return f"{reading['rss_mb']:,.0f} MB RSS (PSS {reading['pss_mb']:,.0f}): {parts}"

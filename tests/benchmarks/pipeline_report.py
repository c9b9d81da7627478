"""The pipeline benchmark's printed report: the machine, each size, memory by process,
latency, the targets (PASS/FAIL) and how long each phase took."""

from __future__ import annotations

from typing import Any

from tests.benchmarks.pipeline_stack import say

RULE = "-" * 78


def _by_process(reading: dict[str, Any]) -> dict[str, float]:
    """RSS (MB) summed by process name (one name may run in more than one process)."""
    out: dict[str, float] = {}
    for row in reading["processes"]:
        out[row["process"]] = out.get(row["process"], 0.0) + row["rss_mb"]
    return out


def _sizes(res: dict[str, Any]) -> None:
    say(
        f"{'events':>8}  {'publish':>9}  {'end to end':>17}  {'plain consumer':>14}  "
        f"{'ratio':>6}  {'RSS MB: idle':>12} {'after':>6} {'peak':>6}"
    )
    for s in res["sizes"].values():
        say(
            f"{s['events']:>8,}  {s['publish_eps']:>6,.0f}/s  "
            f"{s['end_to_end_eps']:>6,.0f}/s ({s['end_to_end_s']:>6.1f} s)  "
            f"{s['baseline']['eps']:>12,.0f}/s  {s['ratio']:>6.3f}  "
            f"{s['memory_idle']['rss_mb']:>12,.0f} {s['memory_after']['rss_mb']:>6,.0f} "
            f"{s['peak_rss_mb_while_storing']:>6,.0f}"
        )
    runs = list(res["sizes"].values())
    if len(runs) > 1:
        first, last = runs[0], runs[-1]
        say(
            f"growth {first['events']:,} -> {last['events']:,} events: end to end "
            f"x{last['end_to_end_eps'] / first['end_to_end_eps']:.2f} events/s, RSS after "
            f"{last['memory_after']['rss_mb'] - first['memory_after']['rss_mb']:+,.0f} MB"
        )
    say("publish: aiokafka, acks=all, all at once; peak: highest RSS sampled while storing")


def _memory(res: dict[str, Any]) -> None:
    ref = res["sizes"][str(res["reference_events"])]
    idle, after = ref["memory_idle"], ref["memory_after"]
    before, later = _by_process(idle), _by_process(after)
    say(f"resident memory by process, {ref['events']:,}-event stack (MB): idle -> after")
    for name in sorted(before.keys() | later.keys()):
        say(f"  {name:<24} {before.get(name, 0.0):>7,.1f} -> {later.get(name, 0.0):>7,.1f}")
    say(f"  {'total RSS':<24} {idle['rss_mb']:>7,.1f} -> {after['rss_mb']:>7,.1f}")
    say(f"  {'total PSS':<24} {idle['pss_mb']:>7,.1f} -> {after['pss_mb']:>7,.1f}")


def _latency(lat: dict[str, Any]) -> None:
    rows = [
        ("latency rate", f"{lat['rate_achieved']:g}/s achieved of {lat['rate_target']:g}/s"),
        ("latency seen", f"{lat['seen']:,}/{lat['published']:,} events"),
        (
            "publish to queue API",
            " / ".join(f"{lat[f'{k}_ms']:,.1f}" for k in ("p50", "p95", "p99", "max"))
            + " ms (p50 / p95 / p99 / max)",
        ),
        ("send() to ack", f"p50 {lat['ack_p50_ms']} ms, p99 {lat['ack_p99_ms']} ms"),
        ("queue API poll", f"p50 {lat['queue_poll_p50_ms']} ms, max {lat['queue_poll_max_ms']} ms"),
        *(
            (f"  of which {name}", f"p50 {v['p50']:,.1f} ms, p99 {v['p99']:,.1f} ms")
            for name, v in lat["stages_ms"].items()
        ),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        say(f"{key:<{width}}  {value}")


def print_report(res: dict[str, Any]) -> None:
    m = res["machine"]
    say("\n" + "=" * 78)
    say(f"machine  {m['cpu_model']}, {m['cores']} cores, {m['platform']}")
    say(f"python   {m['python']} (load avg at start {m['load_avg_at_start']})")
    workers = "one process per role" if res["config"]["separate_workers"] else "in one process"
    say(f"stack    `qrt up`, embedded broker, SQLite, workers {workers}")
    say(RULE)
    _sizes(res)
    say(RULE)
    _memory(res)
    say(RULE)
    _latency(res["latency"])
    say(RULE)
    for t in res["targets"].values():
        say(f"{'PASS' if t['pass'] else 'FAIL'}  {t['what']}: {t['measured']}")
    say("latency measured from just before send() to the queue response that lists the event")
    say(RULE)
    say("phases (wall s): " + ", ".join(f"{k} {v:g}" for k, v in res["phase_s"].items()))
    say("=" * 78)

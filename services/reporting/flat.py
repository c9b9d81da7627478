"""A report as rows of (section, measure, value): the CSV of the API and `qrt report
--format csv` (one row a figure), and the lines of `--format table`.

A breakdown's row names its part after a colon (`by_source:ems`, `outcomes:not_located`);
a month's or week's, a team's and a bin's, after the day, team or hours
(`2026-03-01.fatal`, `day-east.to_first_contact.median_hours`, `12-24h`). A figure left
out (no data, or suppressed for release) has an empty value; a suppressed count is `<11`."""

from __future__ import annotations

import csv
import io
from typing import Any

from schemas.report import ProgramReport

Row = tuple[str, str, str]
HEADER: Row = ("section", "measure", "value")
ABOUT = ("program_id", "period_from", "period_to", "by", "zone", "generated_at", "share",
         "clinical")  # fmt: skip
SECTIONS = ("overdoses", "cases", "clinical_figures", "repeats", "texts", "rejections",
            "series", "spikes", "contact_time_distribution", "by_team")  # fmt: skip


def report_rows(report: ProgramReport) -> list[Row]:
    data = report.model_dump(mode="json")
    rows: list[Row] = [("report", key, _value(data[key])) for key in ABOUT]
    for section in SECTIONS:
        if data[section] is not None:
            rows += [(section, measure, value) for measure, value in _flat("", data[section])]
    return rows


def report_csv(report: ProgramReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(report_rows(report))
    return out.getvalue()


def _flat(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        out = []
        for key, inner in value.items():
            out += _flat(_join(prefix, key, "."), inner)
        return out
    if isinstance(value, list):
        out = []
        for item in value:
            label, rest = _label(item)
            if set(rest) == {"count"}:
                out.append((_join(prefix, label, ":"), _value(rest["count"])))
            else:
                out += _flat(_join(prefix, label, ":" if prefix else ""), rest)
        return out
    return [(prefix, _value(value))]


def _label(item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """What names a list's item, and its figures."""
    for keys, name in (
        (("name",), lambda d: d["name"]),
        (("step",), lambda d: d["step"]),
        (("start",), lambda d: d["start"]),
        (("team_id",), lambda d: d["team_id"]),
        (("agency_id", "reason"), lambda d: f"{d['agency_id']}:{d['reason']}"),
        (("from_hours", "to_hours"), _hours_label),
    ):
        if all(k in item for k in keys):
            return name(item), {k: v for k, v in item.items() if k not in keys}
    return "", item


def _hours_label(item: dict[str, Any]) -> str:
    high = item["to_hours"]
    return f"{item['from_hours']}h+" if high is None else f"{item['from_hours']}-{high}h"


def _join(prefix: str, name: str, sep: str) -> str:
    return f"{prefix}{sep}{name}" if prefix else name


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

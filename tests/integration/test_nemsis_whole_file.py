"""`qrt publish --nemsis` is all or nothing per file, against the real broker: the file is
read whole first; one cut short publishes nothing and says after which report, and at
which line, it broke; a whole file publishes every overdose it holds."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from services.cli import main
from services.settings import Settings
from services.topics import ensure_topics
from tests.support import read_topic
from tests.wall_clock import now

SCHEMA = (
    "http://www.nemsis.org https://nemsis.org/media/nemsis_v3/release-3.5.1.250403CP1/"
    "XSDs/NEMSIS_XSDs/EMSDataSet_v3.xsd"
)


def _report(n: int, *, timed: bool = True) -> str:
    at = (now() - timedelta(hours=2 + n)).isoformat(timespec="seconds")
    times = f"<eTimes><eTimes.01>{at}</eTimes.01><eTimes.03>{at}</eTimes.03></eTimes>"
    return f"""
    <PatientCareReport UUID="9a7c0000-0000-4000-8000-00000000000{n}">
      <eRecord><eRecord.01>WF-PCR-{n:04d}</eRecord.01></eRecord>
      <eResponse><eResponse.03>WF-26-{n:04d}</eResponse.03></eResponse>
      {times if timed else ""}
      <eSituation><eSituation.11>T40.1X1A</eSituation.11></eSituation>
      <eScene><eScene.18>54</eScene.18><eScene.21>54011</eScene.21></eScene>
    </PatientCareReport>"""


def _export(reports: list[str]) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<EMSDataSet xmlns="http://www.nemsis.org"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="{SCHEMA}">
  <Header>
    <DemographicGroup>
      <dAgency.01>S54-WF001</dAgency.01>
      <dAgency.02>EX-EMS-01</dAgency.02>
      <dAgency.04>54</dAgency.04>
    </DemographicGroup>{"".join(reports)}
  </Header>
</EMSDataSet>
"""


def _publish(
    text: str, args: list[str], broker: str, prefix: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> int:  # fmt: skip
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker)
    monkeypatch.setenv("QRT_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("QRT_DATA_DIR", str(tmp_path))
    ensure_topics(Settings(topic_prefix=prefix), broker)
    path = tmp_path / "export.xml"
    path.write_text(text)
    return main(["publish", "--nemsis", *args, str(path)])


def _nothing_on(broker: str, topic: str) -> None:
    with pytest.raises(AssertionError, match="0 messages"):
        read_topic(broker, topic, 1, timeout_s=2)


def test_a_file_cut_after_its_first_report_publishes_nothing_and_says_where(
    broker: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    whole = _export([_report(1), _report(2), _report(3)])
    cut = whole[: whole.index("<eSituation>", whole.index("WF-PCR-0002"))]
    code = _publish(cut, [], broker, topic_prefix, tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert code == 2, out
    assert "reports read: 1" in out and "published: 0" in out
    refused = next(line for line in out.splitlines() if line.startswith("file refused"))
    assert "after 1 report(s)" in refused
    assert "9a7c0000-0000-4000-8000-000000000001" in refused  # the last one read whole
    assert re.search(r"line \d+", refused), refused  # where the XML broke
    assert "nothing was published" in refused
    _nothing_on(broker, f"{topic_prefix}overdose.ems.v1")


def test_a_whole_file_publishes_every_report(
    broker: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    text = _export([_report(1), _report(2), _report(3)])
    code = _publish(text, [], broker, topic_prefix, tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "reports read: 3" in out and "published: 3" in out and "refused" not in out
    messages = read_topic(broker, f"{topic_prefix}overdose.ems.v1", 3)
    ids = sorted(json.loads(m.value)["event_id"] for m in messages)
    assert ids == [f"9a7c0000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3)]


def test_all_or_nothing_holds_a_file_with_a_rejected_report(
    broker: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    text = _export([_report(1), _report(2, timed=False), _report(3)])
    code = _publish(text, ["--all-or-nothing"], broker, topic_prefix, tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert code == 2, out
    assert "rejected: 1" in out and "no call time" in out and "published: 0" in out
    assert "nothing was published (all or nothing)" in out
    _nothing_on(broker, f"{topic_prefix}overdose.ems.v1")

"""`qrt publish --nemsis FILE.xml` against the real broker: every report is either
published (acks=all) or accounted for in the summary with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli import main
from services.settings import Settings
from services.topics import ensure_topics
from tests.support import read_topic

CORPUS = Path(__file__).resolve().parents[1] / "data" / "nemsis"


def publish(
    args: list[str], broker: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> int:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker)
    monkeypatch.setenv("QRT_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("QRT_DATA_DIR", str(tmp_path))
    return main(["publish", "--nemsis", *args])


def test_a_several_report_export_is_published_and_summarized(
    broker: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ensure_topics(Settings(topic_prefix=topic_prefix), broker)
    code = publish(
        [str(CORPUS / "several_reports.xml")], broker, topic_prefix, tmp_path, monkeypatch
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "reports read: 6" in out
    assert "overdoses: 3 opioid_overdose, 1 suspected_overdose" in out
    assert "published: 4" in out and "skipped: 2 not an overdose" in out
    messages = read_topic(broker, f"{topic_prefix}overdose.ems.v1", 4)
    assert len(messages) == 4
    ids = sorted(json.loads(m.value)["event_id"][-1] for m in messages)
    assert ids == ["1", "2", "3", "5"]
    assert all(m.key == json.loads(m.value)["event_id"].encode() for m in messages)


def test_a_hostile_file_is_refused_and_nothing_is_published(
    broker: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ensure_topics(Settings(topic_prefix=topic_prefix), broker)
    code = publish([str(CORPUS / "xxe.xml")], broker, topic_prefix, tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert code == 2 and "unsafe XML refused" in out and "published: 0" in out
    with pytest.raises(AssertionError, match="0 messages"):
        read_topic(broker, f"{topic_prefix}overdose.ems.v1", 1, timeout_s=2)


def test_a_program_following_only_opioid_overdoses_skips_the_others(
    broker: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    programs = tmp_path / "programs.toml"
    programs.write_text(
        '[[program]]\nid = "opioid-only"\nname = "Opioid QRT"\ncounty_fips = ["54011"]\n'
        'agency_ids = ["EX-EMS-01"]\n[program.ingest]\nfollow_up = "opioid_overdose"\n'
    )
    monkeypatch.setenv("QRT_PROGRAMS_FILE", str(programs))
    ensure_topics(Settings(topic_prefix=topic_prefix), broker)
    code = publish(
        [str(CORPUS / "several_reports.xml")], broker, topic_prefix, tmp_path, monkeypatch
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "published: 3" in out
    assert "1 suspected_overdose (not followed up by opioid-only)" in out

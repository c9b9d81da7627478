"""A file that is not a NEMSIS v3.5 EMSDataSet is refused whole, with the reason, on both
paths that read one, against the real broker: the gateway answers 422 and publishes
nothing; `qrt publish --nemsis` prints the reason, publishes nothing and exits 2. A
v3.5.1 report is published with what it holds (middle name, phones, destination...)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from services.cli import main
from services.settings import Settings
from services.topics import ensure_topics
from tests.integration.test_ingest_gateway import gateway, nothing_on_topic, on_topic
from tests.support import read_topic
from tests.wall_clock import now

__all__ = ["gateway"]  # the fixture, shared with the gateway's own tests

CORPUS = Path(__file__).resolve().parents[1] / "data" / "nemsis"
FULL = CORPUS / "v351_full_report.xml"
V34 = "https://nemsis.org/media/nemsis_v3/3.4.0.160713CP2/XSDs/NEMSIS_XSDs/EMSDataSet_v3.xsd"


def recent(data: bytes) -> bytes:
    """The file with its call time two hours ago (the intake refuses a future one)."""
    at = (now() - timedelta(hours=2)).isoformat(timespec="seconds").encode()
    return data.replace(b"2026-11-22T08:30:00-05:00", at)


def foreign_namespace() -> bytes:
    return FULL.read_bytes().replace(b'xmlns="http://www.nemsis.org"', b'xmlns="urn:ems:other"')


def declared_v34() -> bytes:
    text = FULL.read_bytes().decode()
    start = text.index("https://nemsis.org/media")
    end = text.index('"', start)
    return (text[:start] + V34 + text[end:]).encode()


def stuffed() -> bytes:
    data = FULL.read_bytes()
    return data.replace(b"<eVitals>", b"<eVitals>" + b"<e/>" * 25_000)


REFUSED = [
    (foreign_namespace, "in the XML namespace 'urn:ems:other', not 'http://www.nemsis.org'"),
    (declared_v34, "NEMSIS v3.4.0.160713CP2 is not accepted"),
    (stuffed, "holds more than 20,000 XML elements"),
]


@pytest.mark.parametrize(("make", "reason"), REFUSED, ids=["namespace", "v3.4", "stuffed"])
def test_the_gateway_refuses_the_file_with_422_and_the_reason(
    gateway: Any, broker: str, make: Any, reason: str
) -> None:
    client, settings = gateway
    answer = client.post("/api/v1/events/nemsis", content=make())
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert reason in detail and "nothing was published" in detail
    nothing_on_topic(broker, settings)


def test_the_gateway_publishes_what_a_v3_5_1_report_holds(gateway: Any, broker: str) -> None:
    client, settings = gateway
    answer = client.post("/api/v1/events/nemsis", content=recent(FULL.read_bytes()))
    assert answer.status_code == 202 and answer.json()["published"] == 1, answer.text
    (published,) = on_topic(broker, settings, 1)
    patient = published["patient"]
    assert (patient["middle_name"], patient["sex"]) == ("Jordan", "male")
    assert patient["phones"] == ["304-555-0142", "304-555-0199"]
    assert patient["age"] == {"value": 36, "unit": "years", "approximate": False}
    assert published["location"]["address2"] == "Room 12"
    assert published["destination"]["name"] == "Cabell Example Hospital"
    assert published["agency_name"] == "Example County EMS"
    assert published["naloxone"]["given_by"] == "Law Enforcement"


@pytest.mark.parametrize(("make", "reason"), REFUSED, ids=["namespace", "v3.4", "stuffed"])
def test_qrt_publish_refuses_the_file_with_the_reason_and_exit_2(
    broker: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], make: Any, reason: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker)
    monkeypatch.setenv("QRT_TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("QRT_DATA_DIR", str(tmp_path))
    ensure_topics(Settings(topic_prefix=topic_prefix), broker)
    path = tmp_path / "export.xml"
    path.write_bytes(recent(make()))
    code = main(["publish", "--nemsis", str(path)])
    out = capsys.readouterr().out
    assert code == 2, out
    assert reason in out and "published: 0" in out
    with pytest.raises(AssertionError, match="0 messages"):
        read_topic(broker, f"{topic_prefix}overdose.ems.v1", 1, timeout_s=2)


def test_qrt_publish_takes_the_element_cap_from_the_settings(
    broker: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """QRT_NEMSIS_MAX_ELEMENTS_PER_REPORT lifted: the same stuffed report is read."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker)
    monkeypatch.setenv("QRT_TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("QRT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QRT_NEMSIS_MAX_ELEMENTS_PER_REPORT", "50000")
    ensure_topics(Settings(topic_prefix=topic_prefix), broker)
    path = tmp_path / "export.xml"
    path.write_bytes(recent(stuffed()))
    code = main(["publish", "--nemsis", str(path)])
    out = capsys.readouterr().out
    assert code == 0 and "published: 1" in out, out
    (message,) = read_topic(broker, f"{topic_prefix}overdose.ems.v1", 1)
    assert json.loads(message.value)["patient"]["middle_name"] == "Jordan"

"""`qrt publish` checks before it sends, against the real broker: JSON lines are screened
by the intake worker's own screening (refused lines listed, with their reasons, never
their values; `--all-or-nothing` sends none), and a NEMSIS file is read whole first (a
file cut short publishes nothing and says where it broke)."""

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

NAMES = ("Zebulon", "Quistgaard", "Marigold", "Thistlewood")  # must never be printed
PHONES = ("+13045550142", "+13045550177", "3045550142", "3045550177")


def _env(broker: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker)
    monkeypatch.setenv("QRT_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("QRT_DATA_DIR", str(tmp_path))
    ensure_topics(Settings(topic_prefix=prefix), broker)


def _event(event_id: str, occurred_at: str, *, source: str = "ems", agency: str = "EX-EMS-01",
           county: str | None = "54011") -> dict[str, object]:  # fmt: skip
    return {
        "event_id": event_id,
        "source": source,
        "agency_id": agency,
        "occurred_at": occurred_at,
        "location": {"county_fips": county} if county else {},
        "patient": {"first_name": NAMES[0], "last_name": NAMES[1], "phone": PHONES[0]},
    }


def _mixed_lines() -> list[str]:
    """Good lines and lines the intake worker refuses, with the line numbers they get."""
    at = now()
    earlier = (at - timedelta(hours=3)).isoformat()
    referral = {
        "referral_id": "ref-good", "source": "referral", "kind": "family",
        "program_id": "example", "referred_at": (at - timedelta(hours=1)).isoformat(),
        "person": {"first_name": NAMES[2], "last_name": NAMES[3], "phone": PHONES[1]},
    }  # fmt: skip
    late_referral = {**referral, "referral_id": "ref-future",
                     "referred_at": (at + timedelta(hours=6)).isoformat()}  # fmt: skip
    rows: list[object] = [
        _event("ems-good", earlier),  # 1
        _event("ems-naive", "2026-11-20T22:14:00"),  # 2: no UTC offset
        _event("ems-nowhere", earlier, agency="NOWHERE-EMS", county=None),  # 3
        _event("ems-future", (at + timedelta(hours=5)).isoformat()),  # 4
        None,  # 5: a blank line is no event
        _event("police-good", earlier, source="police", agency="EX-PD-01"),  # 6
        referral,  # 7
        late_referral,  # 8: refused by the referral screening
        {  # 9: a control character in a name, a field the contract does not have
            **_event("ems-odd", earlier),
            "patient": {"first_name": NAMES[0] + "\u0007", "phone": PHONES[0]},
            "remarks": NAMES[1],
        },
    ]
    return ["" if row is None else json.dumps(row) for row in rows]


def _no_personal_values(text: str) -> None:
    for value in (*NAMES, *PHONES):
        assert value not in text, f"{value!r} printed"


def _ids(broker: str, topic: str, expect: int) -> list[str]:
    messages = read_topic(broker, topic, expect)
    return sorted(
        str(json.loads(m.value).get("event_id") or json.loads(m.value)["referral_id"])
        for m in messages
    )


def test_lines_the_intake_worker_refuses_are_listed_and_not_sent(
    broker: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _env(broker, topic_prefix, tmp_path, monkeypatch)
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(_mixed_lines()) + "\n")
    code = main(["publish", str(events)])
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert "published 3 event(s); 5 refused; 0 failed" in out
    refused = dict(re.findall(r"^line (\d+): refused: (\w+):", err, re.M))
    assert refused == {
        "2": "invalid_event",
        "3": "unroutable",
        "4": "occurred_in_future",
        "8": "occurred_in_future",
        "9": "invalid_event",
    }
    assert "occurred_at: " in err and "no UTC offset" in err  # the field error, line 2
    assert "'NOWHERE-EMS'" in err  # the unknown agency named
    assert "referred_at " in err  # line 8 went through the referral screening
    assert "patient.first_name: " in err and "remarks: " in err  # line 9's two fields
    _no_personal_values(out + err)
    assert _ids(broker, f"{topic_prefix}overdose.ems.v1", 1) == ["ems-good"]
    assert _ids(broker, f"{topic_prefix}overdose.police.v1", 1) == ["police-good"]
    assert _ids(broker, f"{topic_prefix}referral.v1", 1) == ["ref-good"]


def test_all_or_nothing_sends_none_when_a_line_is_refused(
    broker: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _env(broker, topic_prefix, tmp_path, monkeypatch)
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(_mixed_lines()))
    code = main(["publish", "--all-or-nothing", str(events)])
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert "published 0 event(s); 5 refused; 0 failed" in out
    assert "nothing was published (--all-or-nothing)" in err
    _no_personal_values(out + err)
    for topic in ("overdose.ems.v1", "overdose.police.v1", "referral.v1"):
        with pytest.raises(AssertionError, match="0 messages"):
            read_topic(broker, f"{topic_prefix}{topic}", 1, timeout_s=2)


def test_all_or_nothing_sends_every_line_of_a_clean_file(
    broker: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _env(broker, topic_prefix, tmp_path, monkeypatch)
    lines = _mixed_lines()
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(lines[i] for i in (0, 4, 5, 6)))
    code = main(["publish", "--all-or-nothing", str(events)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "published 3 event(s); 0 refused; 0 failed" in out and "refused:" not in err
    assert _ids(broker, f"{topic_prefix}overdose.ems.v1", 1) == ["ems-good"]
    assert _ids(broker, f"{topic_prefix}overdose.police.v1", 1) == ["police-good"]
    assert _ids(broker, f"{topic_prefix}referral.v1", 1) == ["ref-good"]


def test_unscreened_sends_every_line_for_the_worker_to_dead_letter(
    broker: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _env(broker, topic_prefix, tmp_path, monkeypatch)
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(_mixed_lines()))
    code = main(["publish", "--unscreened", str(events)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "published 8 event(s); 0 refused; 0 failed" in out and "refused:" not in err
    ems = _ids(broker, f"{topic_prefix}overdose.ems.v1", 5)
    assert ems == ["ems-future", "ems-good", "ems-naive", "ems-nowhere", "ems-odd"]
    assert _ids(broker, f"{topic_prefix}referral.v1", 2) == ["ref-future", "ref-good"]
    assert main(["publish", "--unscreened", "--all-or-nothing", str(events)]) == 2
    assert "needs the screening" in capsys.readouterr().err

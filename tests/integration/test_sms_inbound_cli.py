"""`qrt sms inbound`: a client's text handled by the same function as Twilio's signed
webhook, with the same form fields, on the real store (SQLite, PostgreSQL), so STOP,
START, HELP and a reply can be tried without Twilio."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from services.cli import main
from services.crypto.fields import FieldCipher
from services.crypto.keys import keyring_from_text, new_key_text
from services.store.repository import Store
from services.store.tables import sms_consents, sms_outbox, sms_replies
from tests.integration.test_sms_checkins import PHONE, texting

NOW = datetime(2026, 11, 17, 13, 0, tzinfo=UTC)  # Tuesday 08:00 in New York


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch, store: Store, tmp_path: Path) -> FieldCipher:
    """The CLI's settings point at the test's store, with keys the test holds too, and
    its clock reads NOW (the development clock offset)."""
    keys, index = new_key_text("cli1"), base64.b64encode(b"x" * 32).decode()
    monkeypatch.setenv("DATABASE_URL", store.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("QRT_DATA_KEYS", keys)
    monkeypatch.setenv("QRT_INDEX_KEY", index)
    monkeypatch.setenv("QRT_DATA_DIR", str(tmp_path / "data"))
    offset = (NOW - datetime.now(UTC)).total_seconds()
    monkeypatch.setenv("QRT_CLOCK_OFFSET_SECONDS", f"{offset:.3f}")
    return FieldCipher(keyring_from_text(keys, index))


def qrt(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["sms", "inbound", *args]) == 0
    out = capsys.readouterr().out
    assert PHONE not in out and "555-0142" not in out, "the number is shown masked"
    return out


def states(t: object) -> dict[str, str]:
    return {r.kind: r.state for r in t.texts()}  # type: ignore[attr-defined]


def test_stop_start_help_and_a_reply_from_the_command_line(
    store: Store, keyed: FieldCipher, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = texting(store, keyed, tmp_path)
    case_id = t.open_case()
    assert t.schedule(case_id) == 4
    assert set(states(t).values()) == {"queued"}

    said = qrt(capsys, "--from", "(304) 555-0142", "STOP")
    assert "consent withdrawn in 1 program(s); 4 queued text(s) cancelled" in said
    assert set(states(t).values()) == {"cancelled"}

    said = qrt(capsys, "--from", PHONE, "--opt-out-type", "start", "REANUDAR")
    assert "4 text(s) back in the queue" in said
    assert set(states(t).values()) == {"queued"}

    said = qrt(capsys, "--from", PHONE, "--opt-out-type", "HELP", "AYUDA")
    assert "help: recorded" in said and set(states(t).values()) == {"queued"}

    said = qrt(capsys, "--from", PHONE, "can you call me after 5")
    assert f"on case {case_id[:8]}, flagged for a call-back" in said
    assert store.queue("example")[0].callback_requested
    with store.engine.connect() as conn:
        sources = list(conn.execute(select(sms_consents.c.source).order_by(sms_consents.c.id))
                       .scalars())  # fmt: skip
        replies = conn.execute(select(sms_replies).order_by(sms_replies.c.id)).all()
        events = conn.execute(
            select(sms_outbox.c.payload).where(sms_outbox.c.topic == "sms.events.v1")
        ).scalars()
        kinds = [json.loads(e)["kind"] for e in events]
    assert sources == ["event", "inbound_stop", "inbound_start"]
    assert [r.keyword for r in replies] == ["opt_out", "opt_in", "help", None]
    assert all(r.message_sid.startswith("SM") and len(r.message_sid) == 34 for r in replies)
    assert abs((replies[-1].received_at - NOW).total_seconds()) < 60, "the stack's clock"
    assert "call me" not in (replies[-1].body_sealed or ""), "the reply is sealed"
    assert kinds == ["opted_out", "opted_in", "help", "reply"]


def test_a_number_that_is_not_one_is_refused_and_changes_nothing(
    store: Store, keyed: FieldCipher, tmp_path: Path
) -> None:
    t = texting(store, keyed, tmp_path)
    t.schedule(t.open_case())
    with pytest.raises(SystemExit, match="is not a phone number"):
        main(["sms", "inbound", "--from", "not-a-number", "STOP"])
    assert set(states(t).values()) == {"queued"}

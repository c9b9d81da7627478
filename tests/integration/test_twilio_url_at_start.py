"""A QRT_TWILIO_PUBLIC_URL that Twilio cannot call stops `qrt up`, `qrt api` and `qrt worker
sms` at start with one clear line, before anything runs, instead of failing every text
later."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cli import main
from tests.unit.test_settings import _production


@pytest.mark.parametrize(
    "argv", [["up", "--api-port", "0"], ["api", "--port", "0"], ["worker", "sms"]]
)
def test_a_bad_public_url_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str]
) -> None:
    _production(monkeypatch, tmp_path)
    data = tmp_path / "data"
    monkeypatch.setenv("QRT_DATA_DIR", str(data))
    monkeypatch.setenv("QRT_TWILIO_PUBLIC_URL", "http://qrt.example.org")
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    said = str(stopped.value.code)
    assert said == (
        "error: the settings are refused: QRT_TWILIO_PUBLIC_URL must be an absolute https "
        "URL in production, e.g. https://qrt.example.org, with no user, query or fragment "
        "(got 'http://qrt.example.org')"
    )
    assert not data.exists(), "nothing started: no data dir, no run files, no logs"

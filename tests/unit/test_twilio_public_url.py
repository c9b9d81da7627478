"""QRT_TWILIO_PUBLIC_URL is checked when the settings are read, so a stack that Twilio
could not call (or whose signatures could never match) does not start; and the retry
budget of the SMS sender is a setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.cli_common import settings_problems
from services.settings import Settings
from tests.unit.test_settings import _production

REFUSED_EVERYWHERE = [
    "qrt.example.org", "/twilio", "https://", "ftp://qrt.example.org",
    "https://qrt.example.org/?x=1", "https://qrt.example.org/#top",
    "https://user:secret@qrt.example.org", "https://qrt.example.org:notaport",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QRT_ENVIRONMENT", "QRT_TWILIO_PUBLIC_URL", "TWILIO_ACCOUNT_SID",
                 "QRT_SMS_MAX_TRIES", "QRT_SMS_RETRY_FIRST_SECONDS",
                 "QRT_SMS_RETRY_MAX_SECONDS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("url", REFUSED_EVERYWHERE)
def test_a_url_twilio_cannot_call_is_refused_in_development_too(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("QRT_TWILIO_PUBLIC_URL", url)
    with pytest.raises(ValidationError, match="absolute http\\(s\\) URL in development") as caught:
        Settings()
    said = settings_problems(caught.value)  # what `qrt up` prints, then stops
    assert said.startswith("QRT_TWILIO_PUBLIC_URL must be an absolute http(s) URL")
    assert "secret" not in said, "a password in the URL is never repeated"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "https://abc.tunnel.example/qrt/"])
def test_development_takes_http_for_a_local_tunnel(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("QRT_TWILIO_PUBLIC_URL", url)
    assert Settings().twilio_public_url == url


@pytest.mark.parametrize(
    ("url", "refused"),
    [("http://qrt.example.org", True), ("https://qrt.example.org?x=1", True),
     ("https://user@qrt.example.org", True), ("https://qrt.example.org/base/", False),
     ("https://qrt.example.org:8443", False)],
)  # fmt: skip
def test_outside_development_only_https_will_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, refused: bool
) -> None:
    _production(monkeypatch, tmp_path)
    monkeypatch.setenv("QRT_TWILIO_PUBLIC_URL", url)
    if refused:
        with pytest.raises(ValidationError, match="absolute https URL in production"):
            Settings()
    else:
        assert Settings().twilio_public_url == url


def test_the_retry_budget_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert (defaults.sms_max_tries, defaults.sms_retry_first_seconds,
            defaults.sms_retry_max_seconds) == (8, 5.0, 600.0)  # fmt: skip
    monkeypatch.setenv("QRT_SMS_MAX_TRIES", "3")
    monkeypatch.setenv("QRT_SMS_RETRY_MAX_SECONDS", "120")
    assert (Settings().sms_max_tries, Settings().sms_retry_max_seconds) == (3, 120.0)
    monkeypatch.setenv("QRT_SMS_RETRY_FIRST_SECONDS", "300")
    with pytest.raises(ValidationError, match="QRT_SMS_RETRY_FIRST_SECONDS is more than"):
        Settings()
    monkeypatch.setenv("QRT_SMS_MAX_TRIES", "0")
    with pytest.raises(ValidationError):
        Settings()

"""Twilio's webhooks over HTTP: signatures checked with twilio's own RequestValidator,
idempotent on MessageSid, statuses applied forward only. Real store (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from services.api.app import create_app
from services.bootstrap import bootstrap
from services.crypto.fields import FieldCipher
from services.settings import Settings
from services.store.repository import Store
from services.store.tables import sms_consents, sms_outbox, sms_replies, sms_texts
from tests.integration.test_sms_checkins import PHONE, texting

TOKEN = "webhook-test-token"
PUBLIC = "https://qrt.example.org"


def client(
    store: Store, cipher: FieldCipher, now: datetime, peer: str = "testclient", **settings: str
) -> TestClient:
    values = {"twilio_auth_token": TOKEN, **settings}
    s = Settings(**values)  # type: ignore[arg-type]
    ctx = bootstrap(s, store=store, cipher=cipher, clock=lambda: now)
    return TestClient(create_app(s, ctx=ctx), client=(peer, 50000))


def signed(url: str, params: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


def sent_text(store: Store, cipher: FieldCipher, tmp_path: Path) -> tuple[str, datetime]:
    """A case whose check-in went out (local outbox): its sid and the time."""
    t = texting(store, cipher, tmp_path)
    case_id = t.open_case()
    t.schedule(case_id)
    t.s.now = datetime(2026, 11, 17, 13, 0, tzinfo=UTC)
    t.dispatch()
    row = t.texts()[0]
    assert row.twilio_sid
    return row.twilio_sid, t.s.now


def count(store: Store, table: object) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_status_callback_signed_applies_once_and_only_forward(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    sid, now = sent_text(store, cipher, tmp_path)
    with client(store, cipher, now, twilio_public_url=PUBLIC) as http:
        delivered = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": "AC1"}
        url = f"{PUBLIC}/twilio/status"
        assert (
            http.post("/twilio/status", data=delivered, headers=signed(url, delivered)).status_code
            == 204
        )
        before = count(store, sms_outbox)
        again = http.post("/twilio/status", data=delivered, headers=signed(url, delivered))
        assert again.status_code == 204 and count(store, sms_outbox) == before, (
            "a repeat changes nothing"
        )
        late = {"MessageSid": sid, "MessageStatus": "sent"}
        assert http.post("/twilio/status", data=late, headers=signed(url, late)).status_code == 204
    with store.engine.connect() as conn:
        assert (
            conn.execute(
                select(sms_texts.c.state).where(sms_texts.c.twilio_sid == sid)
            ).scalar_one()
            == "delivered"
        )


def test_unsigned_or_badly_signed_webhooks_are_refused_and_change_nothing(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    _, now = sent_text(store, cipher, tmp_path)
    stop = {"MessageSid": "SM" + "9" * 32, "From": PHONE, "To": "+13045550100", "Body": "STOP"}
    with client(store, cipher, now, twilio_public_url=PUBLIC) as http:
        assert http.post("/twilio/inbound", data=stop).status_code == 403
        wrong = signed(f"{PUBLIC}/twilio/inbound", stop, token="another-token")
        assert http.post("/twilio/inbound", data=stop, headers=wrong).status_code == 403
        other_url = signed("https://elsewhere.example/twilio/inbound", stop)
        assert http.post("/twilio/inbound", data=other_url).status_code == 403
        assert http.post("/twilio/inbound", data=stop, headers=other_url).status_code == 403
        tampered = {**stop, "Body": "START"}
        good_for_stop = signed(f"{PUBLIC}/twilio/inbound", stop)
        assert http.post("/twilio/inbound", data=tampered, headers=good_for_stop).status_code == 403
    assert count(store, sms_replies) == 0
    assert count(store, sms_consents) == 1, "only the event's consent"
    s = Settings()
    with TestClient(create_app(s, ctx=bootstrap(s, store=store, cipher=cipher))) as http:
        refused = http.post(
            "/twilio/inbound", data=stop, headers=signed("http://testserver/twilio/inbound", stop)
        )
        assert refused.status_code == 403 and "TWILIO_AUTH_TOKEN" in refused.json()["detail"]


def test_inbound_stop_signed_behind_a_proxy_revokes_consent_once(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    _, now = sent_text(store, cipher, tmp_path)
    stop = {"MessageSid": "SM" + "8" * 32, "From": PHONE, "To": "+13045550100", "Body": "Stop"}
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "qrt.example.org"}
    with client(store, cipher, now, peer="10.0.0.5", trusted_proxies="10.0.0.0/24") as http:
        headers = {**proxy, **signed("https://qrt.example.org/twilio/inbound", stop)}
        first = http.post("/twilio/inbound", data=stop, headers=headers)
        assert first.status_code == 200 and "<Response>" in first.text
        assert http.post("/twilio/inbound", data=stop, headers=headers).status_code == 200
    assert count(store, sms_replies) == 1
    with store.engine.connect() as conn:
        granted = [
            r.granted for r in conn.execute(select(sms_consents).order_by(sms_consents.c.id))
        ]
    assert granted == [True, False], "STOP recorded once"


def test_forwarded_headers_of_a_peer_that_is_not_our_proxy_are_not_believed(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    """Anyone can write X-Forwarded-Host: from an untrusted peer the signature is checked
    against the URL it really called, so a signature made for another URL is refused."""
    _, now = sent_text(store, cipher, tmp_path)
    stop = {"MessageSid": "SM" + "7" * 32, "From": PHONE, "To": "+13045550100", "Body": "Stop"}
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "qrt.example.org"}
    headers = {**proxy, **signed("https://qrt.example.org/twilio/inbound", stop)}
    with client(store, cipher, now, peer="192.0.2.9", trusted_proxies="10.0.0.0/24") as http:
        assert http.post("/twilio/inbound", data=stop, headers=headers).status_code == 403
    assert count(store, sms_replies) == 0

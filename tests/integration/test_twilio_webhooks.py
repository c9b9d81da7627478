"""Twilio's webhooks over HTTP: signatures checked with twilio's own RequestValidator,
idempotent on MessageSid, statuses applied forward only. Real store (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
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
from services.store.tables import cases, sms_consents, sms_outbox, sms_replies, sms_texts
from tests.integration.test_sms_checkins import PHONE, texting

TOKEN = "webhook-test-token"
SERVICE = "MG" + "1" * 32
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


def _states(store: Store) -> dict[str, str]:
    with store.engine.connect() as conn:
        return {r.kind: r.state for r in conn.execute(select(sms_texts.c.kind, sms_texts.c.state))}


def _last_event_kind(store: Store) -> str:
    with store.engine.connect() as conn:
        payload = conn.execute(
            select(sms_outbox.c.payload)
            .where(sms_outbox.c.topic == "sms.events.v1")
            .order_by(sms_outbox.c.seq.desc())
        ).first()
    assert payload is not None
    return str(json.loads(payload[0])["kind"])


def test_advanced_opt_out_types_decide_in_any_language(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    """Spanish keywords Twilio's Advanced Opt-Out manages (not in our own list) arrive with
    OptOutType: ALTO (STOP) opts out and cancels what is queued exactly like STOP,
    REANUDAR (START) opts back in, AYUDA (HELP) is recorded and nothing is sent."""
    _, now = sent_text(store, cipher, tmp_path)
    outbox = tmp_path / "outbox.jsonl"
    sent_before = outbox.read_text().count("\n")
    url = f"{PUBLIC}/twilio/inbound"

    def inbound(http: TestClient, n: int, body: str, kind: str) -> None:
        form = {"MessageSid": f"SM{n:032d}", "From": PHONE, "To": "+13045550100",
                "Body": body, "OptOutType": kind, "MessagingServiceSid": SERVICE}  # fmt: skip
        answer = http.post("/twilio/inbound", data=form, headers=signed(url, form))
        assert answer.status_code == 200 and answer.text.endswith("<Response></Response>")

    with client(store, cipher, now, twilio_public_url=PUBLIC) as http:
        inbound(http, 1, "ALTO", "STOP")
        assert _states(store)["follow_up_day_3"] == "cancelled"
        assert _last_event_kind(store) == "opted_out"
        inbound(http, 2, "Reanudar", "START")
        assert _states(store)["follow_up_day_3"] == "queued"
        assert _last_event_kind(store) == "opted_in"
        inbound(http, 3, "AYUDA", "HELP")
        assert _last_event_kind(store) == "help"
    with store.engine.connect() as conn:
        consents = [(r.granted, r.source) for r in conn.execute(
            select(sms_consents).order_by(sms_consents.c.id))]  # fmt: skip
        replies = [(r.keyword, r.body_sealed) for r in conn.execute(
            select(sms_replies).order_by(sms_replies.c.id))]  # fmt: skip
        callback = conn.execute(select(cases.c.callback_requested_at)).scalar_one()
    assert consents == [(True, "event"), (False, "inbound_stop"), (True, "inbound_start")]
    assert replies == [("opt_out", None), ("opt_in", None), ("help", None)]
    assert callback is None, "no keyword asks the team to call someone back"
    assert outbox.read_text().count("\n") == sent_before, "HELP: Twilio answers, not us"


def test_without_opt_out_type_our_keyword_list_decides(
    store: Store, cipher: FieldCipher, tmp_path: Path
) -> None:
    """ALTO from a number outside Advanced Opt-Out is a reply like any other (Twilio did
    not treat it as a keyword); an OptOutType we do not know leaves the list to decide."""
    _, now = sent_text(store, cipher, tmp_path)
    url = f"{PUBLIC}/twilio/inbound"
    with client(store, cipher, now, twilio_public_url=PUBLIC) as http:
        alto = {"MessageSid": "SM" + "5" * 32, "From": PHONE, "To": "+13045550100",
                "Body": "ALTO"}  # fmt: skip
        assert http.post("/twilio/inbound", data=alto, headers=signed(url, alto)).is_success
        assert _last_event_kind(store) == "reply"
        odd = {"MessageSid": "SM" + "6" * 32, "From": PHONE, "To": "+13045550100",
               "Body": "stop", "OptOutType": "SOMETHING"}  # fmt: skip
        assert http.post("/twilio/inbound", data=odd, headers=signed(url, odd)).is_success
        assert _last_event_kind(store) == "opted_out"
        no_sid = {"From": PHONE, "Body": "STOP", "OptOutType": "STOP"}
        refused = http.post("/twilio/inbound", data=no_sid, headers=signed(url, no_sid))
        assert refused.status_code == 422 and "MessageSid" in refused.json()["detail"]
    assert _states(store)["follow_up_day_3"] == "cancelled"

"""The SMS worker is killed (SIGKILL) after Twilio accepted its texts and before it
recorded them: after a restart every client has got each text exactly once.
Real worker process, real broker, real store, twilio-python against a local server."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from schemas.codec import decode
from schemas.sms import ConsentSource, OutboundText, TextState
from services.crypto.fields import FieldCipher
from services.crypto.keys import development_keyring
from services.settings import Settings
from services.sms import consent
from services.sms.texts import to_aad
from services.store.database import make_engine, migrate
from services.store.repository import Store
from services.store.tables import sms_consents, sms_texts
from services.topics import ensure_topics
from tests import wall_clock
from tests.support import Worker, read_topic, stack_env, wait_for
from tests.support_twilio import FakeTwilio

ACCOUNT, TOKEN = "AC" + "c" * 32, "crash-test-token"
US_ZONES = ["Pacific/Guam", "America/Puerto_Rico", "America/New_York", "America/Chicago",
            "America/Denver", "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu",
            "Pacific/Pago_Pago"]  # fmt: skip


# No US zone is in daytime from about 09:30 to 13:00 UTC: then a fixed offset is used.
FIXED_OFFSET_ZONES = [f"Etc/GMT{-hours:+d}" for hours in range(-12, 15)]  # UTC-12 .. UTC+14


def daytime_zone(now: datetime) -> str:
    """A zone where it is now well inside sending hours, whenever the test runs."""
    for key in US_ZONES + FIXED_OFFSET_ZONES:
        local = now.astimezone(ZoneInfo(key)).time()
        if time(9) <= local <= time(19, 30):
            return key
    raise AssertionError(f"no zone in daytime at {now}")


def queue_texts(store: Store, cipher: FieldCipher, phones: list[str], now: datetime) -> None:
    zone = daytime_zone(now)
    with store.transaction() as conn:
        for i, phone in enumerate(phones):
            token, key = consent.phone_token(cipher, phone), f"crash-{i}:check_in"
            conn.execute(
                insert(sms_consents).values(
                    consent.consent_row("example", token, True, ConsentSource.EVENT, now)
                )
            )
            conn.execute(
                insert(sms_texts).values(
                    idempotency_key=key, program_id="example", phone_token=token,
                    to_sealed=cipher.seal(phone, to_aad(key)), kind="check_in",
                    language="eng", body=f"Check-in text {i}", zone=zone, state_code=None,
                    state=TextState.QUEUED.value, due_at=now, send_after=now, tries=0,
                    created_at=now, updated_at=now,
                )
            )  # fmt: skip


def states(store: Store) -> dict[str, str]:
    with store.engine.connect() as conn:
        return {r.idempotency_key: r.state for r in conn.execute(select(sms_texts))}


def test_killed_between_send_and_record_each_client_gets_the_text_once(
    broker: str, topic_prefix: str, database_url: str, tmp_path: Path
) -> None:
    settings = Settings(topic_prefix=topic_prefix, data_dir=tmp_path)
    ensure_topics(settings, broker)
    engine = make_engine(database_url)
    migrate(engine)
    store = Store(engine)
    cipher = FieldCipher(development_keyring(tmp_path))  # the worker reads the same keys
    phones = [f"+1304555{n:04d}" for n in (150, 151, 152)]
    now = wall_clock.now()
    with FakeTwilio(ACCOUNT, TOKEN) as fake:
        env = stack_env(tmp_path, broker, topic_prefix, database_url)
        env.update(
            TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN,
            QRT_TWILIO_FROM_NUMBER="+13045550100", QRT_TWILIO_API_BASE_URL=fake.base_url,
            QRT_SMS_RATE_PER_SECOND="50", QRT_SMS_CONCURRENCY="4",
        )  # fmt: skip
        fake.script.delay_s = 60  # Twilio has the texts; the worker waits for the answer
        queue_texts(store, cipher, phones, now)
        worker = Worker("sms", env, tmp_path)
        try:
            worker.start()
            wait_for(lambda: len(fake.messages) == 3, 60, "Twilio to accept all three texts")
            worker.kill()
            assert set(states(store).values()) == {TextState.SENDING.value}, states(store)

            fake.script.delay_s = 0
            worker.start()
            wait_for(
                lambda: set(states(store).values()) == {TextState.SENT.value},
                60,
                "the restarted worker to settle the texts",
            )
            outbound = settings.topic("sms.outbound.v1")

            def announced_sent() -> set[int]:
                records = [decode(OutboundText, m.value) for m in read_topic(broker, outbound, 1)]
                return {r.text_id for r in records if r.state is TextState.SENT}

            wait_for(lambda: len(announced_sent()) == 3, 30, "sent texts on sms.outbound.v1")
        finally:
            worker.stop()
        for phone in phones:
            assert len(fake.received_by(phone)) == 1, f"{phone} got a text twice or never"
        with engine.connect() as conn:
            sids = {r.twilio_sid for r in conn.execute(select(sms_texts))}
        assert sids == {m.sid for m in fake.messages}
        assert "Check-in text" not in worker.log.read_text(), "texts never reach the logs"
        log = worker.log.read_text()
        for phone in phones:  # whole or in part (not "0150" alone: memory addresses hold that)
            assert phone[2:] not in log and phone[-7:] not in log, "numbers never reach the logs"
    store.dispose()

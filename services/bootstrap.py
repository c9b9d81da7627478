"""The one composition root: every real adapter is built here (the store, the cipher,
the text sender and dispatcher, the Kafka producers, the gateway's publisher and
caches); entrypoints (workers, API, pages, CLI) take them from a `Context` or from the
factories below. Heavy adapters are imported where they are built, so a process only
loads what it uses."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from services.clock import Clock, shifted_clock
from services.crypto.fields import FieldCipher
from services.crypto.keys import KeyError_, KeyRing, development_keyring, keyring_from_text
from services.ingest.screening import ScreeningRules
from services.programs import Programs, load_programs
from services.settings import Settings
from services.store.database import make_engine, require_current_schema
from services.store.repository import Store

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from services.ingest.gateway import KeyCache, Recent
    from services.ingest.gateway_publisher import GatewayPublisher
    from services.sms.dispatch import Dispatcher, Sender

SMS_OUTBOX_FILE = "sms-outbox.jsonl"  # the development sender's file, in the data dir


class Gateway:
    """The HTTP gateway's adapters, one set per API app: the agency keys seen in the
    last minute, the event keys accepted lately, and its producer, made at the first
    publish (the broker's address may be written after the API starts)."""

    def __init__(self, settings: Settings) -> None:
        from services.ingest.gateway import KeyCache, Recent

        self.settings = settings
        self.keys: KeyCache = KeyCache()
        self.recent: Recent = Recent()
        self._publisher: GatewayPublisher | None = None

    def publisher(self) -> GatewayPublisher:
        """Raises NoBrokerConfigured while no broker is known."""
        if self._publisher is None:
            from services.ingest.gateway_publisher import GatewayPublisher
            from services.runtime.run_files import bootstrap_servers

            self._publisher = GatewayPublisher(self.settings, bootstrap_servers(self.settings))
        return self._publisher

    async def close(self) -> None:
        """On shutdown: the producer flushes and closes its connections."""
        if self._publisher is not None:
            await self._publisher.close()


class Context:
    """What a process needs. The store is opened on first use, so a process that never
    touches it (the intake worker) never connects to the database."""

    def __init__(
        self,
        settings: Settings,
        programs: Programs,
        clock: Clock,
        rules: ScreeningRules,
        store: Store | None = None,
        cipher: FieldCipher | None = None,
    ) -> None:
        self.settings = settings
        self.programs = programs
        self.clock = clock
        self.rules = rules
        if store is not None:
            self.__dict__["store"] = store
        if cipher is not None:
            self.__dict__["cipher"] = cipher

    @cached_property
    def cipher(self) -> FieldCipher:
        return FieldCipher(keyring_for(self.settings))

    @cached_property
    def store(self) -> Store:
        store = Store(engine_for(self.settings))
        require_current_schema(store.engine)
        return store

    @cached_property
    def sender(self) -> Sender:
        """Twilio when its credentials are set, else the local outbox file."""
        from services.sms.consent import phone_token
        from services.sms.outbox_sender import LocalOutboxSender
        from services.sms.twilio_sender import TwilioSender

        settings, cipher = self.settings, self.cipher
        if settings.twilio_account_sid and settings.twilio_auth_token:
            public = settings.twilio_public_url
            return TwilioSender(
                settings.twilio_account_sid,
                settings.twilio_auth_token.get_secret_value(),
                from_number=settings.twilio_from_number,
                messaging_service_sid=settings.twilio_messaging_service_sid,
                status_callback=public.rstrip("/") + "/twilio/status" if public else None,
                api_base_url=settings.twilio_api_base_url,
                clock=self.clock,
            )
        return LocalOutboxSender(
            settings.data_dir / SMS_OUTBOX_FILE, lambda to: phone_token(cipher, to), self.clock
        )

    @cached_property
    def dispatcher(self) -> Dispatcher:
        """The SMS worker's sender; its pauses are reported in the run dir for `qrt status`."""
        from services.runtime.sending_state import record_sending_pause
        from services.sms.dispatch import Dispatcher
        from services.sms.dispatch_parts import RetryPolicy

        settings = self.settings
        record_sending_pause(settings, None)  # a pause of an earlier run is over
        return Dispatcher(
            self.store,
            self.cipher,
            self.programs,
            self.sender,
            self.clock,
            rate_per_s=settings.sms_rate_per_second,
            concurrency=settings.sms_concurrency,
            retry=RetryPolicy(
                settings.sms_max_tries,
                settings.sms_retry_first_seconds,
                settings.sms_retry_max_seconds,
            ),
            report_pause=lambda s: record_sending_pause(settings, s.as_dict() if s else None),
        )

    def gateway(self) -> Gateway:
        """A new set for each API app (each closes its own producer at shutdown)."""
        return Gateway(self.settings)


def engine_for(settings: Settings) -> Engine:
    return make_engine(settings.sqlalchemy_url)


def producer_for(settings: Settings) -> Any:
    """A kafka-python producer for the CLI's publishing (acks=all)."""
    from services.ingest.publisher import make_producer
    from services.runtime.run_files import bootstrap_servers

    return make_producer(bootstrap_servers(settings))


def keyring_for(settings: Settings) -> KeyRing:
    if settings.data_keys and settings.index_key:
        return keyring_from_text(
            settings.data_keys.get_secret_value(), settings.index_key.get_secret_value()
        )
    if settings.environment == "production":
        raise KeyError_("production needs QRT_DATA_KEYS and QRT_INDEX_KEY")
    return development_keyring(settings.data_dir)


def bootstrap(
    settings: Settings,
    *,
    store: Store | None = None,
    programs: Programs | None = None,
    clock: Clock | None = None,
    cipher: FieldCipher | None = None,
) -> Context:
    return Context(
        settings=settings,
        programs=programs if programs is not None else load_programs(settings.programs_file),
        clock=clock or shifted_clock(settings.clock_offset_seconds),
        rules=ScreeningRules(
            max_bytes=settings.max_event_bytes,
            future_tolerance=timedelta(minutes=settings.future_tolerance_minutes),
        ),
        store=store,
        cipher=cipher,
    )

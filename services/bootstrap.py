"""The one composition root: real adapters are built here, inside the function."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property

from services.clock import Clock, shifted_clock
from services.crypto.fields import FieldCipher
from services.crypto.keys import KeyError_, KeyRing, development_keyring, keyring_from_text
from services.ingest.screening import ScreeningRules
from services.programs import Programs, load_programs
from services.settings import Settings
from services.store.database import make_engine, require_current_schema
from services.store.repository import Store


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
        store = Store(make_engine(self.settings.sqlalchemy_url))
        require_current_schema(store.engine)
        return store


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

"""Errors that carry a message a person can act on: the CLI prints them without a traceback."""

from __future__ import annotations

from services.cases.visits import VisitRecordError
from services.crypto.fields import SealedValueError
from services.crypto.keys import KeyError_
from services.programs import ProgramsFileError
from services.runtime.embedded_broker import EmbeddedBrokerError
from services.runtime.run_files import NoBrokerConfigured
from services.store.database import SchemaOutOfDate
from services.topics import BrokerUnavailable

KNOWN_ERRORS: tuple[type[Exception], ...] = (
    ProgramsFileError,
    EmbeddedBrokerError,
    NoBrokerConfigured,
    SchemaOutOfDate,
    BrokerUnavailable,
    KeyError_,
    SealedValueError,
    VisitRecordError,
)

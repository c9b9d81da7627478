"""The Kafka topics of the product, and creating them idempotently (kafka-python admin)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from services.settings import Settings

if TYPE_CHECKING:  # imported where used: a process that only names topics never loads it
    from kafka import KafkaAdminClient

log = logging.getLogger(__name__)

OVERDOSE_EMS = "overdose.ems.v1"
OVERDOSE_POLICE = "overdose.police.v1"
REFERRALS = "referral.v1"  # schemas/referral_event.py
OVERDOSE_REJECTED = "overdose.rejected.v1"
FOLLOWUP_INTAKE = "followup.intake.v1"
FOLLOWUP_CASES = "followup.cases.v1"
SMS_OUTBOUND = "sms.outbound.v1"
SMS_EVENTS = "sms.events.v1"
OVERDOSE_SPIKES = "overdose.spikes.v1"  # schemas/spikes.py

ALL_TOPICS = (
    OVERDOSE_EMS,
    OVERDOSE_POLICE,
    REFERRALS,
    OVERDOSE_REJECTED,
    FOLLOWUP_INTAKE,
    FOLLOWUP_CASES,
    SMS_OUTBOUND,
    SMS_EVENTS,
    OVERDOSE_SPIKES,
)
SOURCE_TOPICS = {"ems": OVERDOSE_EMS, "police": OVERDOSE_POLICE, "referral": REFERRALS}


class BrokerUnavailable(RuntimeError):
    def __init__(self, servers: str, cause: Exception) -> None:
        super().__init__(f"Kafka broker at {servers} did not answer: {cause}")


def admin_client(servers: str, timeout_s: float = 15.0) -> KafkaAdminClient:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return KafkaAdminClient(
                bootstrap_servers=servers.split(","),
                client_id="qrt-admin",
                request_timeout_ms=10_000,
            )
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise BrokerUnavailable(servers, exc) from exc
            time.sleep(0.2)


def ensure_topics(settings: Settings, servers: str) -> list[str]:
    """Create any missing product topic; return the names created. Safe to repeat."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = admin_client(servers)
    try:
        existing = set(admin.list_topics())
        wanted = [settings.topic(name) for name in ALL_TOPICS]
        missing = [name for name in wanted if name not in existing]
        created: list[str] = []
        for name in missing:
            try:
                admin.create_topics(
                    [NewTopic(name, settings.topic_partitions, settings.topic_replication)]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                pass  # created by another process meanwhile: that is the goal
        if created:
            log.info("created topics %s", ", ".join(created))
        return created
    finally:
        admin.close()

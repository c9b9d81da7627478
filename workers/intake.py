"""Intake agent: overdose.{ems,police}.v1, referral.v1 -> followup.intake.v1 |
overdose.rejected.v1.

Policy: every message is screened by `services.ingest.screening.screen` (a referral by
`services.ingest.referral_screening.screen_referral`); bad
input is dead-lettered to overdose.rejected.v1 with the reason, the field
errors, its origin and the original bytes, and the agent goes on. A routed
event is emitted keyed by program id. Duplicates are passed on: the case
worker's unique keys make them yield nothing new. A send is awaited until the
broker acknowledged it (acks=all) before the source offset can be committed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import faust

from schemas.codec import encode
from schemas.intake import Origin, RejectedEvent
from services.bootstrap import Context
from services.ingest.referral_screening import screen_referral
from services.ingest.screening import screen
from services.runtime.metrics import INTAKE_EVENTS
from services.topics import (
    FOLLOWUP_INTAKE,
    OVERDOSE_EMS,
    OVERDOSE_POLICE,
    OVERDOSE_REJECTED,
    REFERRALS,
)
from workers.app import raw_topic

BATCH = 500
BATCH_WITHIN_S = 0.02


def _key_text(key: Any) -> str | None:
    if key is None:
        return None
    return key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)


def register_intake_agent(app: faust.App, ctx: Context) -> None:
    settings = ctx.settings
    referrals = settings.topic(REFERRALS)  # screened as referrals (their own contract)
    sources = raw_topic(
        app, settings.topic(OVERDOSE_EMS), settings.topic(OVERDOSE_POLICE), referrals
    )
    accepted = raw_topic(app, settings.topic(FOLLOWUP_INTAKE))
    rejected = raw_topic(app, settings.topic(OVERDOSE_REJECTED))

    @app.agent(sources, name="intake")
    async def intake(stream: Any) -> None:
        async for batch in stream.take_events(BATCH, within=BATCH_WITHIN_S):
            now = ctx.clock()  # the batch's time of receipt: it was taken at once
            sent, counted = [], Counter[tuple[str, str]]()
            for event in batch:
                message = event.message
                origin = Origin(
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    key=_key_text(message.key),
                )
                result = (screen_referral if message.topic == referrals else screen)(
                    message.value or b"", origin, programs=ctx.programs, now=now, rules=ctx.rules
                )
                if isinstance(result, RejectedEvent):
                    topic, key = rejected, message.key
                    counted["rejected", result.reason.value] += 1
                else:
                    topic, key = accepted, result.program_id.encode()
                    counted["routed", ""] += 1
                sent.append(await topic.send(key=key, value=encode(result), force=True))
            await asyncio.gather(*sent)
            for (outcome, reason), n in counted.items():
                INTAKE_EVENTS.labels(result=outcome, reason=reason).inc(n)

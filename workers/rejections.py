"""Rejection agent, run by the case worker (`qrt worker cases`): overdose.rejected.v1 ->
store (`rejections`), so that coordinators see what their agencies' feeds get refused.

Policy: every dead letter is kept once (`services/store/rejection_records.py`: a
redelivered letter, or the same record rejected again, is stored once by its natural
key), its original bytes sealed. A dead letter that does not decode is still kept with
what is known: its own place on the topic and its bytes, under the reason
`unreadable_dead_letter`. An outage of the store is retried with backoff and the batch
is not acknowledged meanwhile, as the other consumers do. A letter the store refuses
for its data is found by halving the batch, logged (its place and the reason, never
its content) and skipped: never retried forever, never holding up the letters behind
it. Batches are small (BATCH): a dead letter may carry up to a MiB of original bytes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import faust

from services.bootstrap import Context
from services.ingest.rejections import Letter
from services.runtime.retry import with_backoff
from services.store.rejection_records import keep_letters_or_refuse
from services.topics import OVERDOSE_REJECTED
from workers.app import raw_topic

BATCH = 50
BATCH_WITHIN_S = 0.05
log = logging.getLogger(__name__)


def _letter(message: Any) -> Letter:
    return Letter(
        value=message.value or b"",
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
    )


def register_rejection_agent(app: faust.App, ctx: Context) -> None:
    store, cipher = ctx.store, ctx.cipher
    letters_topic = raw_topic(app, ctx.settings.topic(OVERDOSE_REJECTED))

    @app.agent(letters_topic, name="rejections")
    async def rejections(stream: Any) -> None:
        async for batch in stream.take_events(BATCH, within=BATCH_WITHIN_S):
            letters = [_letter(event.message) for event in batch]
            refused = await with_backoff(
                functools.partial(
                    asyncio.to_thread,
                    keep_letters_or_refuse,
                    store,
                    cipher,
                    ctx.programs,
                    letters,
                    ctx.clock(),
                ),
                what="keeping a batch of rejected records",
            )
            for letter, reason in refused:
                log.error(
                    "a rejected record at %s[%d]@%d could not be kept (%s); skipped",
                    letter.topic,
                    letter.partition,
                    letter.offset,
                    reason,
                )

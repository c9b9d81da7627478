"""The gateway's Kafka producer: aiokafka, on the API's own event loop.

A publisher waits on the HTTP request until the broker acknowledged (acks=all),
so each message is sent at once (no linger). aiokafka runs on the event loop
that serves the requests: no I/O thread, no hand-off between threads per
request. Measured against the embedded broker at 400 messages/s, it used 0.55 ms
of CPU per message where kafka-python used 1.43 ms (0.86 with a 5 ms linger),
and answered in 0.65 ms instead of 1.5 ms at the median.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError as AioKafkaError

from schemas.referral_event import IngestEvent
from services.ingest.publisher import MAX_REQUEST_BYTES
from services.settings import Settings
from services.topics import SOURCE_TOPICS

BrokerErrors = (AioKafkaError, TimeoutError)


class GatewayPublisher:
    """One producer per event loop, started on first use; `close()` on shutdown."""

    def __init__(self, settings: Settings, servers: str) -> None:
        self.settings, self.servers = settings, servers
        self._producer: AIOKafkaProducer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._starting = asyncio.Lock()

    async def _ready(self) -> AIOKafkaProducer:
        loop = asyncio.get_running_loop()
        if self._producer is not None and self._loop is loop:
            return self._producer
        if self._loop is not loop:  # a new loop (a test client's): a new lock and producer
            self._starting, self._producer, self._loop = asyncio.Lock(), None, loop
        async with self._starting:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.servers.split(","),
                    acks="all",
                    linger_ms=0,
                    max_request_size=MAX_REQUEST_BYTES,
                    request_timeout_ms=int(self.settings.gateway_ack_seconds * 1000),
                    client_id="qrt-gateway",
                )
                try:
                    await producer.start()  # fetches the cluster's metadata
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
        return self._producer

    async def publish(self, events: Sequence[IngestEvent], timeout_s: float = 10.0) -> None:
        """Send, and return once the broker acknowledged every one (acks=all), all within
        `timeout_s`; raises one of `BrokerErrors` if not. After a failure the producer is
        closed, and the next publish starts a new one: a producer whose sender died
        would otherwise refuse every later send."""
        try:
            async with asyncio.timeout(timeout_s):
                producer = await self._ready()
                sent = [
                    await producer.send(
                        self.settings.topic(SOURCE_TOPICS[e.source.value]),
                        key=e.event_id.encode(),
                        value=e.model_dump_json(exclude_none=True).encode(),
                    )
                    for e in events
                ]
                await asyncio.gather(*sent)
        except BrokerErrors:
            await self.close()
            raise

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None and self._loop is asyncio.get_running_loop():
            with contextlib.suppress(Exception):  # closing what failed: nothing more to do
                await asyncio.wait_for(producer.stop(), 5)

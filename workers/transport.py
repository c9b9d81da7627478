"""Faust's Kafka transport with a configurable consumer fetch wait.

faust-streaming builds its aiokafka consumer with `fetch_max_wait_ms=1500`
fixed. A broker that holds a fetch for that long when little data is flowing
(the embedded broker does) adds up to 1.5 s per consumer hop; the pipeline has
two. These subclasses set the wait from settings and change nothing else.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka


def app_with_fetch_wait(fetch_max_wait_ms: int) -> type[faust.App]:
    class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
            return consumer

    class QuickFetchConsumer(faust_aiokafka.Consumer):
        def _new_consumer_thread(self) -> ConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    class Transport(faust_aiokafka.Transport):
        Consumer = QuickFetchConsumer

    class App(faust.App):
        def _new_transport(self) -> Transport:
            return Transport(self.conf.broker_consumer, self)

    return App

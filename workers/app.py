"""Faust app factory: one app per worker role, nothing built at import time."""

from __future__ import annotations

from typing import Any

import faust

from services.bootstrap import Context
from services.runtime.run_files import bootstrap_servers, ready_file, write_atomically
from workers.transport import app_with_fetch_wait

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # room for a rejected oversize event and its reason


def create_faust_app(ctx: Context, role: str) -> faust.App:
    settings = ctx.settings
    servers = bootstrap_servers(settings)
    datadir = settings.data_dir / "faust" / role
    datadir.mkdir(parents=True, exist_ok=True)
    app_class = app_with_fetch_wait(settings.consumer_fetch_max_wait_ms)
    app = app_class(
        f"{settings.topic_prefix}qrt-{role}",
        broker=[f"kafka://{host}" for host in servers.split(",")],
        processing_guarantee="at_least_once",
        broker_session_timeout=10,
        broker_rebalance_timeout=8,
        broker_heartbeat_interval=2,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_max_request_size=MAX_MESSAGE_BYTES,
        consumer_max_fetch_size=MAX_MESSAGE_BYTES,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        web_enabled=False,
        store="memory://",
        datadir=str(datadir),
        stream_wait_empty=False,
    )

    ready = ready_file(settings, role)

    async def _mark_ready(sender: Any, assigned: Any, **_: Any) -> None:
        write_atomically(ready, f"{len(assigned)} partitions\n")

    app.on_partitions_assigned.connect(_mark_ready)  # type: ignore[arg-type]

    return app


def raw_topic(app: faust.App, *names: str) -> Any:
    return app.topic(*names, key_serializer="raw", value_serializer="raw")

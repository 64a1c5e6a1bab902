"""Projections: read models built from the event streams, rebuildable from zero.

A projection writes its view and the ids of the events it applied in one transaction,
so a replay or a redelivery never counts an event twice. Rebuilding drops the view,
forgets the applied ids and replays every source stream from its first message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import MetaData, delete
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.bus import Envelope, stream_name, subject
from kernel.consumer import DurableConsumer, apply_new, tracked
from kernel.tables import processed_events

log = logging.getLogger(__name__)


class Projection(Protocol):
    name: str
    # Source service -> the event types it reads from that service's stream.
    sources: dict[str, Sequence[str]]
    view: MetaData

    async def apply(self, event: Envelope, conn: AsyncConnection) -> None: ...


class ProjectionRunner:
    def __init__(self, js: JetStreamContext, engine: AsyncEngine, projection: Projection,
                 batch: int = 256) -> None:
        self.js = js
        self.engine = engine
        self.projection = projection
        self.batch = batch

    async def create_view(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(self.projection.view.create_all)

    def consumers(self) -> list[DurableConsumer]:
        handler = tracked(self.engine, self.projection.name, self.projection.apply)
        return [
            DurableConsumer(self.js, service, f"{self.projection.name}-{service}", handler,
                            filter_subjects=[subject(service, t) for t in types],
                            batch=self.batch)
            for service, types in self.projection.sources.items()
        ]

    async def run(self, stop: asyncio.Event) -> None:
        await self.create_view()
        await asyncio.gather(*(c.run(stop) for c in self.consumers()))

    async def rebuild(self) -> int:
        """Drop the view and replay every source stream into it; returns events applied."""
        async with self.engine.begin() as conn:
            await conn.run_sync(self.projection.view.drop_all)
            await conn.execute(delete(processed_events)
                               .where(processed_events.c.consumer == self.projection.name))
            await conn.run_sync(self.projection.view.create_all)
        applied = 0
        for service, types in self.projection.sources.items():
            applied += await self._replay(service, [subject(service, t) for t in types])
        return applied

    async def _replay(self, service: str, subjects: list[str]) -> int:
        info = await self.js.stream_info(stream_name(service))
        last = info.state.last_seq
        if info.state.messages == 0:
            return 0
        config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL,
                                filter_subjects=subjects, inactive_threshold=60.0)
        sub = await self.js.pull_subscribe(subjects[0], stream=stream_name(service),
                                           config=config)
        applied = 0
        try:
            while True:
                try:
                    msgs = await sub.fetch(2000, timeout=1.0)
                except (NatsTimeoutError, TimeoutError):
                    break
                batch = [Envelope.from_msg(m) for m in msgs]
                async with self.engine.begin() as conn:
                    applied += await apply_new(conn, self.projection.name, batch,
                                               self.projection.apply)
                tail = msgs[-1].metadata
                if tail.sequence.stream >= last or tail.num_pending == 0:
                    break
        finally:
            await sub.unsubscribe()
        return applied

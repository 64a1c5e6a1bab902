"""Projections: read models built from the event streams, rebuildable from zero.

A projection writes its view and the ids of the events it applied in one transaction,
so a replay or a redelivery never counts an event twice. Rebuilding drops the view,
forgets the applied ids and replays every source stream from its first message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import MetaData, delete
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel import context, progress
from kernel.bus import Envelope, stream_name, subject
from kernel.consumer import track_new
from kernel.subscriptions import EventSubscription
from kernel.tables import processed_events

log = logging.getLogger(__name__)


class Projection(Protocol):
    name: str
    # Source service -> the event types it reads from that service's stream.
    sources: dict[str, Sequence[str]]
    view: MetaData

    async def apply(self, event: Envelope, conn: AsyncConnection) -> None: ...


class BatchProjection(Projection, Protocol):
    """A projection that can fold a batch of new events into the view at once; the view
    must come out as `apply` on each event in turn would leave it."""

    async def apply_batch(self, events: Sequence[Envelope], conn: AsyncConnection) -> None: ...


async def apply_tracked(conn: AsyncConnection, projection: Projection,
                        batch: Sequence[Envelope]) -> int:
    """Apply the batch's events this projection has not seen, recording their ids in the
    same transaction; a BatchProjection gets them all in one call. Returns the applied."""
    fresh = await track_new(conn, projection.name, batch)
    fold = getattr(projection, "apply_batch", None)
    for envelope in fresh:
        context.caused_by(envelope.event_id, envelope.correlation_id)
        if fold is None:
            await projection.apply(envelope, conn)
    if fold is not None and fresh:
        await fold(fresh, conn)
    return len(fresh)


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

    def subscriptions(self) -> list[EventSubscription]:
        """One per source stream, durable `<projection>-<source>`."""
        async def handler(batch: Sequence[Envelope]) -> None:
            async with self.engine.begin() as conn:
                await apply_tracked(conn, self.projection, batch)

        return [EventSubscription(service, tuple(types), f"{self.projection.name}-{service}",
                                  handler, batch=self.batch)
                for service, types in self.projection.sources.items()]

    async def run(self, stop: asyncio.Event) -> None:
        await self.create_view()
        await asyncio.gather(*(s.consumer(self.js).run(stop) for s in self.subscriptions()))

    async def rebuild(self) -> int:
        """Drop the view and replay every source stream into it; returns events applied."""
        async with self.engine.begin() as conn:
            await conn.run_sync(self.projection.view.drop_all)
            await conn.execute(delete(processed_events)
                               .where(processed_events.c.consumer == self.projection.name))
            await conn.run_sync(self.projection.view.create_all)
        await expect_replay(self.js, self.projection.sources)
        applied = 0
        for service, types in self.projection.sources.items():
            applied += await self._replay(service, [subject(service, t) for t in types])
        return applied

    async def _replay(self, service: str, subjects: list[str]) -> int:
        applied = 0
        async for batch in replay(self.js, service, subjects, FETCH):
            async with self.engine.begin() as conn:
                applied += await apply_tracked(conn, self.projection, batch)
        return applied


FETCH = 4000


async def expect_replay(js: JetStreamContext, sources: dict[str, Sequence[str]]) -> None:
    """Tell the current progress (kernel/progress.py), if any, how many events the
    sources' streams hold now: what a replay of them will go through."""
    report = progress.current()
    if report is None:
        return
    for service, types in sources.items():
        info = await js.stream_info(stream_name(service), subjects_filter=subject(service))
        counts = info.state.subjects or {}
        report.expect(sum(counts.get(subject(service, t), 0) for t in types))


async def replay(js: JetStreamContext, service: str, subjects: list[str],
                 size: int) -> AsyncIterator[list[Envelope]]:
    """Every message on `subjects` of the service's stream, first to last, in batches of
    up to `size`; the next batch is fetched while the caller applies this one."""
    info = await js.stream_info(stream_name(service))
    if info.state.messages == 0:
        return
    config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL,
                            filter_subjects=subjects, inactive_threshold=60.0)
    sub = await js.pull_subscribe(subjects[0], stream=stream_name(service), config=config)
    pending = asyncio.ensure_future(_fetch(sub, size))
    try:
        while True:
            msgs = await pending
            if not msgs:
                if await _exhausted(sub):
                    break
                pending = asyncio.ensure_future(_fetch(sub, size))
                continue
            tail = msgs[-1].metadata
            done = tail.sequence.stream >= info.state.last_seq or tail.num_pending == 0
            if not done:
                pending = asyncio.ensure_future(_fetch(sub, size))
            if report := progress.current():
                report.advance(len(msgs))
            yield [Envelope.from_msg(m) for m in msgs]
            if done:
                break
    finally:
        pending.cancel()
        await sub.unsubscribe()


async def _exhausted(sub: JetStreamContext.PullSubscription) -> bool:
    """Whether an empty fetch means the end: a fetch also comes back empty mid-stream when
    the process was held past its wait (a loaded machine, a long apply), its messages then
    arriving late; only the consumer's own count, and none left in hand, say it is over."""
    return sub.pending_msgs == 0 and (await sub.consumer_info()).num_pending == 0


async def _fetch(sub: JetStreamContext.PullSubscription, size: int) -> list[Msg]:
    try:
        return await sub.fetch(size, timeout=1.0)
    except (NatsTimeoutError, TimeoutError):
        return []

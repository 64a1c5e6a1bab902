"""Durable JetStream pull consumers that ack only after their own work is done.

`tracked()` makes a handler idempotent by event id: the id is recorded in the
consumer's store in the same transaction as the handler's writes, so a redelivered
event changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel import context
from kernel.bus import Envelope, stream_name
from kernel.retry import Backoff, report
from kernel.tables import processed_events

log = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[Envelope]], Awaitable[None]]
TrackedHandler = Callable[[Envelope, AsyncConnection], Awaitable[None]]


def tracked(engine: AsyncEngine, consumer: str, handler: TrackedHandler) -> BatchHandler:
    """Apply a batch in one transaction, skipping events this consumer already processed."""

    async def handle(batch: Sequence[Envelope]) -> None:
        async with engine.begin() as conn:
            await apply_new(conn, consumer, batch, handler)

    return handle


async def apply_new(conn: AsyncConnection, consumer: str, batch: Sequence[Envelope],
                    handler: TrackedHandler) -> int:
    """`handler` for each event of the batch this consumer has not processed yet."""
    fresh = await track_new(conn, consumer, batch)
    for envelope in fresh:
        context.caused_by(envelope.event_id, envelope.correlation_id)
        await handler(envelope, conn)
    return len(fresh)


async def track_new(conn: AsyncConnection, consumer: str,
                    batch: Sequence[Envelope]) -> list[Envelope]:
    """The batch's events this consumer has not processed yet, each once, now recorded as
    processed in the caller's transaction: one INSERT .. ON CONFLICT DO NOTHING RETURNING
    on the table's primary key. (Reading the batch's ids first with `IN (<4,000 bound
    parameters>)` ran into PostgreSQL's 30 s statement timeout once a rebuild had recorded
    some 100,000 events.)"""
    fresh: dict[str, Envelope] = {}
    for envelope in batch:
        fresh.setdefault(envelope.event_id, envelope)
    if not fresh:
        return []
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = (dialect_insert(processed_events)
            .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
            .returning(processed_events.c.event_id))
    new = set((await conn.execute(stmt, [{"consumer": consumer, "event_id": i}
                                         for i in fresh])).scalars())
    return [e for i, e in fresh.items() if i in new]


class DurableConsumer:
    """Pulls one service's events (optionally filtered) under a durable name.

    Several processes using the same durable name share the work, as a queue.
    """

    def __init__(self, js: JetStreamContext, service: str, durable: str,
                 handler: BatchHandler, filter_subjects: Sequence[str] = (),
                 batch: int = 64, ack_wait: float = 30.0, workers: int = 1) -> None:
        self.js = js
        self.service = service
        self.durable = durable
        self.handler = handler
        self.filter_subjects = list(filter_subjects)
        self.batch = batch
        self.ack_wait = ack_wait
        self.workers = workers
        self.retry = Backoff()  # grows while the handler keeps failing

    def config(self) -> ConsumerConfig:
        cfg = ConsumerConfig(durable_name=self.durable, ack_policy=AckPolicy.EXPLICIT,
                             deliver_policy=DeliverPolicy.ALL, ack_wait=self.ack_wait,
                             max_ack_pending=10_000)
        if len(self.filter_subjects) == 1:
            cfg.filter_subject = self.filter_subjects[0]
        elif self.filter_subjects:
            cfg.filter_subjects = self.filter_subjects
        return cfg

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._work(stop) for _ in range(self.workers)))

    async def _work(self, stop: asyncio.Event) -> None:
        sub = None
        backoff = Backoff()
        try:
            while not stop.is_set():
                try:
                    if sub is None:
                        sub = await self.js.pull_subscribe_bind(
                            durable=await self._ensure(), stream=stream_name(self.service))
                    msgs = await sub.fetch(self.batch, timeout=1.0)
                    backoff.reset()
                except (NatsTimeoutError, TimeoutError):
                    continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    report(log, f"consumer {self.durable}: fetch", exc)
                    sub = None
                    await backoff.pause(stop)
                    continue
                if await self._process(msgs) is False:
                    await self.retry.pause(stop)
                else:
                    self.retry.reset()
        finally:
            # An open pull subscription would hold the connection's drain for its timeout.
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def _ensure(self) -> str:
        await self.js.add_consumer(stream_name(self.service), self.config())
        return self.durable

    async def _process(self, msgs: list) -> bool | None:
        """Handle a batch and ack it; on failure (its store away, say) nak it for
        redelivery after the current backoff, and return False."""
        try:
            await self.handler([Envelope.from_msg(m) for m in msgs])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            report(log, f"consumer {self.durable}: handler (batch will be redelivered)", exc)
            for m in msgs:
                await m.nak(delay=self.retry.delay)
            return False
        for m in msgs:
            await m.ack()
        return True

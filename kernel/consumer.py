"""Durable JetStream pull consumers that ack only after their own work is done.

`tracked()` makes a handler idempotent by event id: the id is recorded in the
consumer's store in the same transaction as the handler's writes, so a redelivered
event changes nothing. A consumer either handles a batch as one (acked or nak'd
together) or, given `OnItsOwn`, settles each message on its own; either way it waits,
quietly, for its source stream to exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel import context
from kernel.bus import Envelope, asked_until_answered, remove_consumer, stream_name
from kernel.db import insert_for, writing
from kernel.foreground import FOREGROUND, Foreground
from kernel.retry import report
from kernel.tables import processed_events
from kernel.waits import Backoff, waited
from kernel.wire import Delivery, Pulls, ack, nak, stored_at

log = logging.getLogger(__name__)

# How long an idle pull waits on the server for messages. A fetch returns as soon as
# messages are there, so this is not latency: it is how often an idle consumer asks.
FETCH_WAIT = 5.0
# How long the pull that tops a batch up waits for the server's answer. It asks only for
# what is already there (`Pulls.now`), so this bounds a slow answer, not a wait for more.
TOP_UP_WAIT = 0.05
# A lingering consumer whose next message was stored this long ago (seconds) takes its
# batch without lingering: waiting for more, or for a bulk send to be answered, would only
# let it fall further behind. So under a long run of bulk sends a view is at most about
# this much behind its source.
BEHIND = 5.0

BatchHandler = Callable[[Sequence[Envelope]], Awaitable[None]]
MessageHandler = Callable[[Envelope], Awaitable[None]]
TrackedHandler = Callable[[Envelope, AsyncConnection], Awaitable[None]]


class HandBackError(Exception):
    """Not handled, and not failed: put the message back on the queue for `delay` s (the
    consumer's hand-back delay when None)."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


@dataclass(frozen=True)
class OnItsOwn:
    """Settle each message of a batch on its own, all of them at once: ack once handled,
    nak after the error's delay (or `handback_delay`) when handed back, nak after the
    consumer's backoff (at least `retry_delay`) on any other error."""

    handler: MessageHandler
    handback_delay: float = 0.1
    retry_delay: float = 1.0


def tracked(engine: AsyncEngine, consumer: str, handler: TrackedHandler) -> BatchHandler:
    """Apply a batch in one transaction, skipping events this consumer already processed."""

    async def handle(batch: Sequence[Envelope]) -> None:
        async with writing(engine) as conn:
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


def each_once(batch: Sequence[Envelope]) -> dict[str, Envelope]:
    """The batch's events by id, in order, each once (the first copy of one given twice)."""
    once: dict[str, Envelope] = {}
    for envelope in batch:
        once.setdefault(envelope.event_id, envelope)
    return once


async def track_new(conn: AsyncConnection, consumer: str,
                    batch: Sequence[Envelope]) -> list[Envelope]:
    """The batch's events this consumer has not processed yet, each once, now recorded as
    processed in the caller's transaction: one INSERT .. ON CONFLICT DO NOTHING RETURNING
    on the table's primary key. (Reading the batch's ids first with `IN (<4,000 bound
    parameters>)` ran into PostgreSQL's 30 s statement timeout once a rebuild had recorded
    some 100,000 events.)"""
    fresh = each_once(batch)
    if not fresh:
        return []
    dialect_insert = insert_for(conn.dialect.name)
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
                 handler: BatchHandler | OnItsOwn, filter_subjects: Sequence[str] = (),
                 batch: int = 64, ack_wait: float = 30.0, workers: int = 1,
                 only_new: bool = False, linger: float = 0.0,
                 foreground: Foreground = FOREGROUND, behind: float = BEHIND) -> None:
        self.js = js
        self.service = service
        self.durable = durable
        self.handler = handler
        self.filter_subjects = list(filter_subjects)
        self.batch = batch
        self.ack_wait = ack_wait
        self.workers = workers
        self.only_new = only_new  # start at messages published from now on
        self.linger = linger  # how long a batch's first message waits for more
        # while a bulk send is accepted, a lingering consumer waits for it too, unless it
        # is `behind` seconds behind its source
        self.foreground = foreground
        self.behind = behind
        self.retry = Backoff()  # grows while the handler keeps failing
        self.creates = True  # ensure() makes the durable when it is missing (not retiring)

    def config(self) -> ConsumerConfig:
        cfg = ConsumerConfig(durable_name=self.durable, ack_policy=AckPolicy.EXPLICIT,
                             deliver_policy=DeliverPolicy.ALL, ack_wait=self.ack_wait,
                             max_ack_pending=10_000)
        if self.only_new:
            cfg.deliver_policy = DeliverPolicy.NEW
        if len(self.filter_subjects) == 1:
            cfg.filter_subject = self.filter_subjects[0]
        elif self.filter_subjects:
            cfg.filter_subjects = self.filter_subjects
        return cfg

    async def run(self, stop: asyncio.Event) -> None:
        if await self._source_exists(stop):
            await asyncio.gather(*(self._work(stop) for _ in range(self.workers)))

    async def _source_exists(self, stop: asyncio.Event) -> bool:
        """Wait (quietly) for the source service to create its stream."""
        while not stop.is_set():
            try:
                await self.js.stream_info(stream_name(self.service))
                return True
            except NotFoundError:
                pass
            except Exception as exc:
                report(log, f"consumer {self.durable}: source stream", exc)
            await waited(stop, seconds=1.0)
        return False

    async def _work(self, stop: asyncio.Event) -> None:
        pulls: Pulls | None = None
        backoff = Backoff()
        try:
            while not stop.is_set():
                try:
                    if pulls is None:
                        pulls = Pulls(self.js, stream_name(self.service), await self.ensure())
                        await pulls.open(stop)
                    deliveries = await self._fetch(pulls, stop)
                    backoff.reset()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    report(log, f"consumer {self.durable}: fetch", exc)
                    if pulls is not None:
                        with contextlib.suppress(Exception):
                            await pulls.close()
                    pulls = None
                    await backoff.pause(stop)
                    continue
                if not deliveries:
                    continue
                if not await self._process(pulls.nc, deliveries):
                    await self.retry.pause(stop)
                else:
                    self.retry.reset()
        finally:
            # An open pull would hold the connection's drain for its wait.
            if pulls is not None:
                with contextlib.suppress(Exception):
                    await pulls.close()

    async def _fetch(self, pulls: Pulls, stop: asyncio.Event) -> list[Delivery]:
        """The next batch, as soon as there is one; [] when an idle pull ended, or once
        stopped. A stop ends an idle pull at once: the server drops a pull whose
        subscription is gone, so it holds no message back.

        One message with the long wait, then whatever else is there: a pull of a whole
        batch can hold its first message until the batch fills or the wait ends when
        several pulls share the durable (docs/performance.md, "Fourth wave"). With a
        `linger`, what else is there is taken that much later, and once no bulk send is
        being accepted in this process (kernel/foreground.py) or the gap's bound has
        passed; at once when the first was stored `behind` seconds ago or more."""
        deliveries = await pulls.first(FETCH_WAIT, stop)
        if deliveries and self.batch > 1:
            if self.linger > 0 and not self._behind(deliveries[0]):
                await asyncio.sleep(self.linger)
                await self.foreground.gap()
            elif pulls.drained():
                return deliveries  # a message that came alone: no request for more
            deliveries += await pulls.now(self.batch - 1, TOP_UP_WAIT)
        return deliveries

    def _behind(self, delivery: Delivery) -> bool:
        return time.time() - stored_at(delivery.reply) >= self.behind

    async def ensure(self) -> str:
        """Create (or update) the durable consumer on the source stream; only find it
        (NotFoundError when it is gone) once it no longer `creates`."""
        if not self.creates:
            await self.js.consumer_info(stream_name(self.service), self.durable)
        else:
            await self.js.add_consumer(stream_name(self.service), self.config())
        return self.durable

    async def prepare(self) -> bool:
        """Create the durable now if the source stream exists (so a consumer of new
        messages only counts from here); False when it does not exist yet: the workers
        create the durable once it does."""
        return await asked_until_answered(self._ensured, f"creating durable {self.durable}")

    async def _ensured(self) -> bool:
        try:
            await self.ensure()
        except NotFoundError:
            return False
        return True

    async def pending(self) -> int:
        """Messages not yet settled: undelivered plus delivered-but-unacked (0 while the
        consumer does not exist yet)."""
        info = await self._info()
        return 0 if info is None else _unsettled(info)

    async def exists(self) -> bool:
        return await self._info() is not None

    async def _info(self) -> ConsumerInfo | None:
        """The durable as the server holds it; None when it does not exist."""
        try:
            return await self.js.consumer_info(stream_name(self.service), self.durable)
        except NotFoundError:
            return None

    async def retire(self, stop: asyncio.Event) -> None:
        """Drain the durable, if it exists, then delete it: run until it has taken
        everything its stream held when this began (its ack floor there, or nothing left
        to take), for a durable whose work another consumer runs now from its own
        position, which may be ahead. It is never made again meanwhile: once another
        replica retiring it too has deleted it, this one ends. Stopped first, it is left
        for the next start."""
        if not await self.exists():
            return
        self.creates = False
        upto = (await self.js.stream_info(stream_name(self.service))).state.last_seq
        finished = asyncio.Event()
        running = asyncio.ensure_future(self.run(finished))
        try:
            while not stop.is_set() and not await self._taken_up_to(upto):
                await waited(stop, seconds=0.5)
        finally:
            finished.set()
            await running
        if not stop.is_set():
            await remove_consumer(self.js, self.service, self.durable)
            log.info("consumer %s: drained and removed (its work runs under another)",
                     self.durable)

    async def _taken_up_to(self, upto: int) -> bool:
        info = await self._info()
        if info is None:
            return True  # another replica drained and removed it
        floor = (info.ack_floor.stream_seq or 0) if info.ack_floor is not None else 0
        return floor >= upto or not _unsettled(info)

    async def _process(self, nc: NATS, deliveries: list[Delivery]) -> bool:
        if isinstance(self.handler, OnItsOwn):
            return all(await asyncio.gather(
                *(self._settle(nc, self.handler, d) for d in deliveries)))
        return await self._process_batch(nc, self.handler, deliveries)

    async def _process_batch(self, nc: NATS, handler: BatchHandler,
                             deliveries: list[Delivery]) -> bool:
        """Handle a batch and ack it; on failure (its store away, say) nak it for
        redelivery after the current backoff, and return False."""
        try:
            await handler([d.envelope() for d in deliveries])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            report(log, f"consumer {self.durable}: handler (batch will be redelivered)", exc)
            await nak(nc, deliveries, self.retry.delay)
            return False
        await ack(nc, deliveries)
        return True

    async def _settle(self, nc: NATS, own: OnItsOwn, delivery: Delivery) -> bool:
        """One message settled; False when it failed, so the worker waits (longer while
        failures go on, as when the store is out of reach) before fetching again."""
        try:
            envelope = delivery.envelope()
            context.caused_by(envelope.event_id, envelope.correlation_id)
            await own.handler(envelope)
        except HandBackError as back:
            log.debug("consumer %s: handed back: %s", self.durable, back)
            await nak(nc, [delivery], back.delay or own.handback_delay)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            report(log, f"consumer {self.durable}: handler (will redeliver)", exc)
            await nak(nc, [delivery], max(own.retry_delay, self.retry.delay))
            return False
        else:
            await ack(nc, [delivery])
        return True


def _unsettled(info: ConsumerInfo) -> int:
    """Messages not yet delivered to the durable, or delivered and not yet acked."""
    return (info.num_pending or 0) + (info.num_ack_pending or 0)

"""The outbox relay: committed events, in position order, to JetStream.

Publishes carry `Nats-Msg-Id` = event id, so a batch published again after a crash
(published, but progress not yet recorded) is dropped by the broker as a duplicate;
consumers dedup by event id as well, for redeliveries past the duplicate window.
Replicas of a service each run a relay over the one store; on PostgreSQL they take turns
(see `publish_pending`), so none publishes again what another has published.
On SQLite (the embedded store: one process per service, so one relay) the relay keeps
its position in memory after the first read and records it at most every
`RECORD_EVERY` s and when it stops: a crash publishes at most that second again, well
inside the broker's duplicate window (kernel/bus.py).
A service's private fields (password hashes, webhook secrets) are emptied in the
published copy (`public_payload`): they stay in the service's own store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable

from nats.js import JetStreamContext
from sqlalchemy import Update, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.bus import headers_for, subject
from kernel.db import insert_for, is_postgres, reading, writing
from kernel.eventstore import EventStore, StoredEvent
from kernel.retry import report
from kernel.tables import relay_offset_name, relay_offsets
from kernel.waits import Backoff
from kernel.wire import Publishes

log = logging.getLogger(__name__)
# The bus's copy of a payload: private fields (hashes, secrets) emptied (kernel/codec.py).
PublicPayload = Callable[[str, bytes], bytes]


# The relay wakes when this process commits events (EventStore.wait_for_append); the
# idle look is only a safety net for writes it was not told of.
IDLE_WAIT = 2.0
# SQLite: how often, at most, the relay records how far it has published.
RECORD_EVERY = 1.0


def _as_stored(event_type: str, payload: bytes) -> bytes:
    return payload


async def recorded_position(engine: AsyncEngine, service: str) -> int:
    """The position a service's relay has recorded in its store (0 before any): every
    event up to it is published; a restarted relay continues from it."""
    async with reading(engine) as conn:
        row = (await conn.execute(select(relay_offsets.c.position).where(
            relay_offsets.c.name == relay_offset_name(service)))).first()
    return int(row.position) if row else 0


class OutboxRelay:
    def __init__(self, store: EventStore, js: JetStreamContext, service: str,
                 batch: int = 256, idle_wait: float = IDLE_WAIT,
                 after_publish: Callable[[list[StoredEvent]], Awaitable[None]] | None = None,
                 public_payload: PublicPayload | None = None,
                 record_every: float = RECORD_EVERY) -> None:
        self.store = store
        self.js = js
        self.service = service
        self.batch = batch
        self.idle_wait = idle_wait
        self.record_every = record_every
        self.name = relay_offset_name(service)
        self._after_publish = after_publish
        self._public = public_payload or _as_stored
        self.published = 0
        self._publishes = Publishes(js._nc)
        self._row_ready = False  # PostgreSQL: the offset row exists, to be locked
        # SQLite: how far this relay has published, and how far that is recorded (when).
        self._published_to: int | None = None
        self._recorded_to = 0
        self._recorded_at = -math.inf

    async def position(self) -> int:
        """How far this relay has published (on SQLite its own count, once it has read
        the record); else the store's record."""
        if self._published_to is not None:
            return self._published_to
        return await self.recorded()

    async def recorded(self) -> int:
        """The position recorded in the store: what a restarted relay continues from."""
        return await recorded_position(self.store.engine, self.service)

    async def lag(self) -> int:
        """Events committed but not yet published."""
        return len(await self.store.read_all(await self.position(), limit=100_000))

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until stopped; a failure (store or broker away) is retried with backoff
        from the last position published, so nothing is skipped. A pass that leaves the
        store caught up is followed by a wait for the next commit, not by another read."""
        backoff = Backoff()
        try:
            while not stop.is_set():
                try:
                    if await self.publish_pending() < self.batch:
                        await self.store.wait_for_append(self._idle_for())
                        await self._record_if_due()
                    backoff.reset()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    report(log, f"relay {self.service}", exc)
                    await backoff.pause(stop)
        finally:
            with contextlib.suppress(Exception):
                await self._record_if_due(at_once=True)

    async def publish_pending(self) -> int:
        """One pass: publish what is committed beyond the position published so far.

        Every replica of a service runs a relay over the same store. On PostgreSQL a pass
        holds the relay's offset row (`FOR UPDATE`) from reading the position to recording
        the new one, so one replica publishes at a time and the next continues where it
        ended: no event is published twice, however far apart the replicas' passes are.
        A replica that dies mid-pass loses its connection and with it the row lock."""
        engine = self.store.engine
        # Commits from here on wake the relay's next wait: this pass may not see them.
        self.store.appends_seen()
        if not is_postgres(engine):
            if self._published_to is None:
                self._published_to = self._recorded_to = await self.recorded()
            return await self._publish_from(self._published_to, None)
        if not self._row_ready:
            async with writing(engine) as conn:
                await conn.execute(insert_for("postgresql")(relay_offsets)
                                   .values(name=self.name, position=0)
                                   .on_conflict_do_nothing(index_elements=["name"]))
            self._row_ready = True
        async with writing(engine) as conn:
            position = (await conn.execute(
                select(relay_offsets.c.position).where(relay_offsets.c.name == self.name)
                .with_for_update())).scalar_one()
            return await self._publish_from(int(position), conn)

    async def _publish_from(self, position: int, locked: AsyncConnection | None) -> int:
        events = [] if locked is not None else self.store.committed_after(position, self.batch)
        if not events:
            events = await self.store.read_all(position, limit=self.batch, conn=locked)
        if not events:
            return 0
        # Sent in order on one connection, so the stream keeps position order; the
        # acks are awaited together so a batch costs one round trip, not one each.
        await self._publishes.publish_all([
            (subject(self.service, e.event_type), self._public(e.event_type, e.payload),
             headers_for(self.service, e))
            for e in events
        ])
        if self._after_publish is not None:
            await self._after_publish(events)
        if locked is not None:
            await locked.execute(self._advance(events[-1].position))
        else:
            self._published_to = events[-1].position
            self.store.forget_committed(self._published_to)
            await self._record_if_due()
        self.published += len(events)
        return len(events)

    def _idle_for(self) -> float:
        """How long an idle relay may wait: until its unrecorded position is due."""
        if self._published_to is None or self._published_to == self._recorded_to:
            return self.idle_wait
        due = self._recorded_at + self.record_every - time.monotonic()
        return max(0.0, min(self.idle_wait, due))

    async def _record_if_due(self, at_once: bool = False) -> None:
        """SQLite: record the position published, if not yet recorded and `record_every`
        has passed since the last record (or `at_once`)."""
        position = self._published_to
        if position is None or position == self._recorded_to:
            return
        now = time.monotonic()
        if not at_once and now - self._recorded_at < self.record_every:
            return
        await self._record(position)
        self._recorded_to, self._recorded_at = position, now

    def _advance(self, position: int) -> Update:
        """Move the recorded position forward only: a slower replica never moves it back."""
        return (update(relay_offsets)
                .where(relay_offsets.c.name == self.name, relay_offsets.c.position < position)
                .values(position=position))

    async def _record(self, position: int) -> None:
        async with writing(self.store.engine) as conn:
            stmt = insert_for(conn.dialect.name)(relay_offsets).values(name=self.name, position=0)
            await conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
            await conn.execute(self._advance(position))

"""The outbox relay: committed events, in position order, to JetStream.

Publishes carry `Nats-Msg-Id` = event id, so a batch published again after a crash
(published, but progress not yet recorded) is dropped by the broker as a duplicate;
consumers dedup by event id as well, for redeliveries past the duplicate window.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from nats.js import JetStreamContext
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kernel.bus import headers_for, subject
from kernel.db import is_postgres, reading
from kernel.eventstore import EventStore, StoredEvent
from kernel.tables import relay_offsets

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(self, store: EventStore, js: JetStreamContext, service: str,
                 batch: int = 256, idle_wait: float = 0.25,
                 after_publish: Callable[[list[StoredEvent]], Awaitable[None]] | None = None
                 ) -> None:
        self.store = store
        self.js = js
        self.service = service
        self.batch = batch
        self.idle_wait = idle_wait
        self.name = f"relay-{service}"
        self._after_publish = after_publish
        self.published = 0

    async def position(self) -> int:
        async with reading(self.store.engine) as conn:
            row = (await conn.execute(
                select(relay_offsets.c.position).where(relay_offsets.c.name == self.name)
            )).first()
        return int(row.position) if row else 0

    async def lag(self) -> int:
        """Events committed but not yet published."""
        return len(await self.store.read_all(await self.position(), limit=100_000))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if await self.publish_pending() == 0:
                    await self.store.wait_for_append(self.idle_wait)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("relay %s: publish failed; retrying", self.service)
                await asyncio.sleep(0.5)

    async def publish_pending(self) -> int:
        """One pass: publish what is committed beyond the recorded position."""
        events = await self.store.read_all(await self.position(), limit=self.batch)
        if not events:
            return 0
        # Sent in order on one connection, so the stream keeps position order; the
        # acks are awaited together so a batch costs one round trip, not one each.
        acks = [
            self.js.publish(subject(self.service, e.event_type), e.payload,
                            headers=headers_for(self.service, e))
            for e in events
        ]
        await asyncio.gather(*acks)
        if self._after_publish is not None:
            await self._after_publish(events)
        await self._record(events[-1].position)
        self.published += len(events)
        return len(events)

    async def _record(self, position: int) -> None:
        engine = self.store.engine
        async with engine.begin() as conn:
            dialect_insert = pg_insert if is_postgres(engine) else sqlite_insert
            stmt = dialect_insert(relay_offsets).values(name=self.name, position=position)
            await conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
            await conn.execute(update(relay_offsets)
                               .where(relay_offsets.c.name == self.name)
                               .values(position=position))

"""Keeps the in-memory directory as fresh as the event store, on every replica.

Before each read the feed reads the events committed beyond its position (one indexed
query when nothing changed) and folds them in. Reads that arrive while a catch-up is
running share the next one, so a burst of lookups costs at most two queries; each read
still sees every commit made before it arrived, by any replica (a rotated or deleted key
pair, a disabled user, stop working at once). Positions become visible in commit order
(kernel/eventstore.py), so a position-ordered tail never skips a late commit.
"""

from __future__ import annotations

import asyncio
import logging

from kernel.codec import EventCodec, UnknownEventError
from kernel.eventstore import EventStore
from services.auth.app.view import DirectoryView

log = logging.getLogger(__name__)
BATCH = 1000


class ViewFeed:
    def __init__(self, store: EventStore, codec: EventCodec) -> None:
        self.store = store
        self.codec = codec
        self.view = DirectoryView()
        self.position = 0
        self._lock = asyncio.Lock()
        self._started = 0
        self._finished = 0

    async def fresh(self) -> DirectoryView:
        """The view as of at least every commit made before this call."""
        ticket = self._started
        async with self._lock:
            if self._finished > ticket:  # a catch-up began after we arrived, and ended
                return self.view
            self._started += 1
            mine = self._started
            await self._catch_up()
            self._finished = mine
        return self.view

    async def _catch_up(self) -> None:
        while True:
            batch = await self.store.read_all(self.position, limit=BATCH)
            for stored in batch:
                try:
                    self.view.apply(self.codec.decode(stored))
                except UnknownEventError:
                    log.debug("auth view skips %s", stored.event_type)
                self.position = stored.position
            if len(batch) < BATCH:
                return

"""Conversation affinity on pool devices: who last sent to a number through a device.

An inbound message on a shared pool device belongs to the user who last messaged its
sender through that device (docs/api.md, "Inbound messages"). The dispatcher notes each
pool send here (`note`, in memory, no wait); `run` writes what was noted to the device
service's own table `pool_conversations` twice a second, one upsert per batch, so a send
costs no extra transaction. A crash forgets at most the last half second of notes: a
reply to one of those sends then goes to the pool's owner."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Float, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.db import insert_for, reading, writing
from kernel.waits import waited

log = logging.getLogger(__name__)

affinity_metadata = MetaData()
conversations = Table(
    "pool_conversations", affinity_metadata,
    Column("device_id", String(100), primary_key=True),
    Column("number", String(32), primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("last_sent_at", Float, nullable=False),
)
FLUSH_EVERY = 0.5
Key = tuple[str, str]


class Affinity:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._noted: dict[Key, tuple[int, float]] = {}
        self._upsert = _upsert(engine.dialect.name)  # built once: a flush only runs it

    def note(self, device_id: str, number: str, user_id: int, at: datetime) -> None:
        """`user_id` sent to `number` through the device at `at` (the later note wins)."""
        key, stamp = (device_id, number), at.timestamp()
        if stamp >= self._noted.get(key, (0, 0.0))[1]:
            self._noted[key] = (user_id, stamp)

    async def last_sender(self, device_id: str, number: str, since: datetime) -> int | None:
        """The user who last sent to `number` through the device at or after `since`."""
        found = self._noted.get((device_id, number))
        if found is None:
            async with reading(self.engine) as conn:
                row = (await conn.execute(select(conversations.c.user_id,
                                                 conversations.c.last_sent_at).where(
                    conversations.c.device_id == device_id,
                    conversations.c.number == number))).first()
            found = (row.user_id, row.last_sent_at) if row else None
        if found is None or found[1] < since.timestamp():
            return None
        return found[0]

    async def flush(self) -> None:
        noted, self._noted = self._noted, {}
        if not noted:
            return
        try:
            await self._write(noted)
        except BaseException:
            for key, value in noted.items():  # kept for the next pass, unless newer
                self._noted.setdefault(key, value)
            raise

    async def _write(self, noted: dict[Key, tuple[int, float]]) -> None:
        async with writing(self.engine) as conn:
            await conn.execute(self._upsert, [
                {"device_id": d, "number": n, "user_id": u, "last_sent_at": t}
                for (d, n), (u, t) in noted.items()])

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await waited(stop, seconds=FLUSH_EVERY)
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - an outage: the notes wait for the next pass
                log.warning("conversation affinity not written yet; trying again",
                            exc_info=True)


def _upsert(dialect: str) -> Any:
    """A note's row, unless the table holds a later one for the device and number."""
    stmt = insert_for(dialect)(conversations)
    return stmt.on_conflict_do_update(
        index_elements=["device_id", "number"],
        set_={"user_id": stmt.excluded.user_id, "last_sent_at": stmt.excluded.last_sent_at},
        where=conversations.c.last_sent_at <= stmt.excluded.last_sent_at)

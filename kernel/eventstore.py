"""The event store: every state change of an aggregate, appended; also the outbox.

One table per service store. `UNIQUE(stream_id, stream_version)` is the whole
concurrency control: two writers that read the same version cannot both append.
On PostgreSQL, appends take an EXCLUSIVE table lock so positions become visible in
commit order and the relay, which reads by position, never skips a late commit.

On SQLite the events a transaction of this process appended are kept, once it has
committed, for the relay (`committed_after`): it publishes them without reading them
back, and reads the table only for what it was not handed (another process's appends, a
commit whose hand-over came late). A writer holds SQLite's write lock from its first
statement to its commit, so a transaction's rows take consecutive positions, and
positions follow commit order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel import context
from kernel.clock import as_utc, utcnow
from kernel.db import is_postgres, reading, writing
from kernel.ids import uuid7
from kernel.tables import events_table, metadata
from kernel.waits import waited

CHUNK = 500  # streams read by one query of read_since
HANDED_AT_MOST = 10_000  # committed events kept for a relay; past it, the relay reads
# The relay's read, built once: building the statement cost a fifth of a read's CPU.
_READ_ALL = (select(events_table)
             .where(events_table.c.position > bindparam("after"))
             .order_by(events_table.c.position)
             .limit(bindparam("limit")))


class ConcurrencyError(Exception):
    """Another writer appended to the stream first: reload and decide again."""


@dataclass(frozen=True)
class NewEvent:
    event_type: str
    payload: bytes
    event_id: str = field(default_factory=uuid7)
    # correlation and causation of the command that recorded it (kernel/aggregate.py);
    # None: its write's
    meta: dict[str, Any] | None = None


@dataclass(frozen=True)
class StreamWrite:
    """Events for one stream, on condition that it is still at `expected_version`.
    `meta` (correlation and causation) is the current context's unless given."""

    stream_id: str
    expected_version: int
    events: Sequence[NewEvent]
    meta: dict[str, Any] | None = None


@dataclass(frozen=True)
class StoredEvent:
    position: int
    event_id: str
    stream_id: str
    stream_version: int
    event_type: str
    payload: bytes
    meta: dict[str, Any]
    recorded_at: datetime


@dataclass
class _Appends:
    """What one transaction() appended: anything (`any`), and on SQLite the events."""

    events: list[StoredEvent] = field(default_factory=list)
    any: bool = False


_INSERT = insert(events_table)


def _row_to_event(row: Any) -> StoredEvent:
    return StoredEvent(row.position, row.event_id, row.stream_id, row.stream_version,
                       row.event_type, row.payload, dict(row.meta), as_utc(row.recorded_at))


class EventStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._appended = asyncio.Event()
        # What each open transaction() appended (on SQLite the events themselves), and on
        # SQLite what has committed since the relay last took it, by position.
        self._hands = not is_postgres(engine)
        self._appending: dict[AsyncConnection, _Appends] = {}
        self._committed: dict[int, StoredEvent] = {}

    async def create_tables(self) -> None:
        async with writing(self.engine) as conn:
            await conn.run_sync(metadata.create_all)

    async def append(self, stream_id: str, expected_version: int,
                     events: Sequence[NewEvent], conn: AsyncConnection | None = None) -> None:
        await self.append_many([StreamWrite(stream_id, expected_version, events)], conn)

    async def append_many(self, writes: Sequence[StreamWrite],
                          conn: AsyncConnection | None = None) -> None:
        """Append to several streams atomically; ConcurrencyError if any moved on."""
        if conn is not None:
            # The caller commits: through transaction() the relay is nudged after it;
            # otherwise the relay finds the events on its next poll.
            await self._insert(conn, writes)
            return
        async with self.transaction() as own:
            await self._insert(own, writes)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction for events and the caller's own rows, committed together;
        if it appended events, the relay is nudged once it has committed (and on SQLite
        handed them). One that wrote only the caller's rows wakes no relay."""
        appends = _Appends()
        try:
            async with writing(self.engine) as conn:
                self._appending[conn] = appends
                try:
                    yield conn
                finally:
                    del self._appending[conn]
        except IntegrityError as exc:
            raise ConcurrencyError(str(exc.orig)) from exc
        if appends.events:
            self._hand_over(appends.events)
        if appends.any:
            self._appended.set()

    def _hand_over(self, events: list[StoredEvent]) -> None:
        if len(self._committed) + len(events) > HANDED_AT_MOST:
            self._committed.clear()  # no relay takes them: it reads what it needs
        for event in events:
            self._committed[event.position] = event

    def committed_after(self, position: int, limit: int) -> list[StoredEvent]:
        """Events this process committed right after `position`, in order, without a gap,
        up to `limit`; [] when the next one was not handed over (the relay reads)."""
        taken: list[StoredEvent] = []
        while len(taken) < limit and (event := self._committed.get(position + 1)):
            taken.append(event)
            position += 1
        return taken

    def forget_committed(self, up_to: int) -> None:
        """Published up to `up_to`: the events kept up to there are not needed again."""
        for position in [p for p in self._committed if p <= up_to]:
            del self._committed[position]

    async def _insert(self, conn: AsyncConnection, writes: Sequence[StreamWrite]) -> None:
        rows: list[dict[str, Any]] = []
        now = utcnow()
        meta = context.current().as_metadata()
        for write in writes:
            for offset, new in enumerate(write.events, start=1):
                rows.append({
                    "event_id": new.event_id,
                    "stream_id": write.stream_id,
                    "stream_version": write.expected_version + offset,
                    "event_type": new.event_type,
                    "payload": new.payload,
                    "meta": new.meta if new.meta is not None else
                    meta if write.meta is None else write.meta,
                    "recorded_at": now,
                })
        if not rows:
            return
        if is_postgres(self.engine):
            await conn.execute(text("LOCK TABLE events IN EXCLUSIVE MODE"))
        try:
            inserted = await conn.execute(_INSERT, rows)
        except IntegrityError as exc:
            raise ConcurrencyError(str(exc.orig)) from exc
        appends = self._appending.get(conn)
        if appends is None:
            return
        appends.any = True
        if self._hands:
            # One row is one execute, whose cursor knows its rowid; many are executemany.
            last = inserted.lastrowid if len(rows) == 1 else (
                await conn.exec_driver_sql("SELECT last_insert_rowid()")).scalar_one()
            first = last - len(rows) + 1
            appends.events.extend(
                StoredEvent(first + n, row["event_id"], row["stream_id"], row["stream_version"],
                            row["event_type"], row["payload"], dict(row["meta"]), now)
                for n, row in enumerate(rows))

    async def read_stream(self, stream_id: str, after_version: int = 0,
                          conn: AsyncConnection | None = None) -> list[StoredEvent]:
        query = (select(events_table)
                 .where(events_table.c.stream_id == stream_id,
                        events_table.c.stream_version > after_version)
                 .order_by(events_table.c.stream_version))
        if conn is not None:
            return [_row_to_event(r) for r in (await conn.execute(query)).all()]
        async with reading(self.engine) as own:
            return [_row_to_event(r) for r in (await own.execute(query)).all()]

    async def read_since(self, versions: Mapping[str, int], conn: AsyncConnection
                         ) -> list[tuple[str, str, str, bytes]]:
        """The events each stream gained after the version given for it, by stream and
        version, as (stream_id, event_id, event_type, payload): one query for CHUNK
        streams."""
        t = events_table
        names = list(versions)
        found: list[tuple[str, str, str, bytes]] = []
        for start in range(0, len(names), CHUNK):
            chunk = names[start:start + CHUNK]
            after = case({s: versions[s] for s in chunk}, value=t.c.stream_id, else_=0)
            query = (select(t.c.stream_id, t.c.event_id, t.c.event_type, t.c.payload)
                     .where(t.c.stream_id.in_(chunk), t.c.stream_version > after)
                     .order_by(t.c.stream_id, t.c.stream_version))
            found += (await conn.execute(query)).all()
        return found

    async def read_all(self, after_position: int = 0, limit: int = 1000,
                       conn: AsyncConnection | None = None) -> list[StoredEvent]:
        params = {"after": after_position, "limit": limit}
        if conn is not None:
            return [_row_to_event(r) for r in (await conn.execute(_READ_ALL, params)).all()]
        async with reading(self.engine) as own:
            return [_row_to_event(r) for r in (await own.execute(_READ_ALL, params)).all()]

    async def read_between(self, after_position: int, up_to: int,
                           types: Sequence[str]) -> list[StoredEvent]:
        """The events of these types after one position and up to another, in order."""
        query = (select(events_table)
                 .where(events_table.c.position > after_position,
                        events_table.c.position <= up_to,
                        events_table.c.event_type.in_(list(types)))
                 .order_by(events_table.c.position))
        async with reading(self.engine) as conn:
            return [_row_to_event(r) for r in (await conn.execute(query)).all()]

    async def last_position(self, conn: AsyncConnection) -> int:
        """The position of the last event appended (0 for none), as `conn` sees it."""
        return int((await conn.execute(
            select(func.max(events_table.c.position)))).scalar() or 0)

    def appends_seen(self) -> None:
        """What was appended so far is about to be read: only later appends end the next
        `wait_for_append` early."""
        self._appended.clear()

    async def wait_for_append(self, seconds: float) -> None:
        """Return when something was appended in this process (since the last wait or
        `appends_seen`), or after `seconds`."""
        await waited(self._appended, seconds=seconds)
        self._appended.clear()

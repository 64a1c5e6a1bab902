"""Aggregates of one kind loaded many at a time: one query for the events every stream
has gained since the copy this process keeps.

The copies are only ever states the store has committed: they are taken after a save
commits (never inside a transaction that could roll back) or after a load. A stream
another process appended to is caught up by the same query, so the store stays the
truth and the copies only save replaying it.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, case, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.aggregate import Aggregate, stream_id_of
from kernel.codec import EventCodec
from kernel.db import reading
from kernel.eventstore import EventStore
from kernel.tables import events_table

A = TypeVar("A", bound=Aggregate)
CHUNK = 500


def _clone(aggregate: A) -> A:
    """Aggregates hold only immutable values besides `pending`: a shallow copy will do."""
    twin = copy.copy(aggregate)
    twin.pending = []
    return twin


class StreamCache(Generic[A]):
    def __init__(self, store: EventStore, codec: EventCodec, cls: type[A],
                 size: int = 50_000) -> None:
        self._store = store
        self._codec = codec
        self._cls = cls
        self._size = size
        self._kept: OrderedDict[str, A] = OrderedDict()

    async def get(self, aggregate_id: str) -> A:
        return (await self.get_many([aggregate_id]))[aggregate_id]

    async def get_many(self, aggregate_ids: Iterable[str],
                       conn: AsyncConnection | None = None) -> dict[str, A]:
        """Fresh copies, caught up with their streams, each free to change."""
        found = {i: self._copy_of(i) for i in dict.fromkeys(aggregate_ids)}
        if conn is None:
            async with reading(self._store.engine) as own:
                await self._catch_up(own, found)
        else:
            await self._catch_up(conn, found)
        self.remember(found.values())
        return {i: _clone(a) for i, a in found.items()}

    async def _catch_up(self, conn: AsyncConnection, found: dict[str, A]) -> None:
        streams = {stream_id_of(self._cls, i): i for i in found}
        names = list(streams)
        for start in range(0, len(names), CHUNK):
            chunk = names[start:start + CHUNK]
            rows = await conn.execute(self._news(chunk, {s: found[streams[s]].version
                                                         for s in chunk}))
            for row in rows:
                found[streams[row.stream_id]]._apply(
                    self._codec.decode_payload(row.event_type, row.payload))

    def remember(self, aggregates: Iterable[A]) -> None:
        """Keep copies of these committed states."""
        for aggregate in aggregates:
            if aggregate.version and not aggregate.pending:
                self._kept[aggregate.id] = _clone(aggregate)
                self._kept.move_to_end(aggregate.id)
        while len(self._kept) > self._size:
            self._kept.popitem(last=False)

    def _copy_of(self, aggregate_id: str) -> A:
        kept = self._kept.get(aggregate_id)
        return _clone(kept) if kept is not None else self._cls(aggregate_id)

    def _news(self, stream_ids: list[str], versions: dict[str, int]) -> Select[Any]:
        t = events_table
        after = case(versions, value=t.c.stream_id, else_=0)
        return (select(t.c.stream_id, t.c.event_type, t.c.payload)
                .where(t.c.stream_id.in_(stream_ids), t.c.stream_version > after)
                .order_by(t.c.stream_id, t.c.stream_version))

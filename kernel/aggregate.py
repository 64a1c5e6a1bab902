"""Aggregates rebuilt from their events, and the repository that loads and saves them."""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from kernel import context
from kernel.codec import EventCodec
from kernel.db import reading
from kernel.eventstore import ConcurrencyError, EventStore, StoredEvent, StreamWrite
from kernel.groupcommit import Extra, GroupCommit


class Aggregate:
    """Holds state that only its own past-tense events change.

    A subclass handles each event in a method named `when_<EventName>`; commands check
    rules and call `_record(event)`, which applies the event and keeps it to be saved.
    """

    stream_prefix = ""
    # True when every attribute but `pending` holds an immutable value: the repository's
    # copies of it are then shallow, which is much cheaper than deep ones.
    immutable_state = False

    def __init__(self, aggregate_id: str) -> None:
        self.id = aggregate_id
        self.version = 0
        self.pending: list[Any] = []
        # each pending event's correlation and causation, as they were when it was
        # recorded (a group of changes saved together keeps each command's own)
        self.pending_meta: list[dict[str, Any]] = []

    @property
    def stream_id(self) -> str:
        return stream_id_of(type(self), self.id)

    @classmethod
    def rebuild(cls, aggregate_id: str, events: Iterable[Any]) -> Any:
        aggregate = cls(aggregate_id)
        for event in events:
            aggregate._apply(event)
        return aggregate

    def _record(self, event: Any) -> None:
        self._apply(event)
        self.pending.append(event)
        self.pending_meta.append(context.current().as_metadata())

    def _apply(self, event: Any) -> None:
        getattr(self, f"when_{type(event).__name__}")(event)
        self.version += 1

    def pending_write(self, codec: EventCodec) -> StreamWrite:
        expected = self.version - len(self.pending)
        return StreamWrite(self.stream_id, expected,
                           [codec.encode(e, meta) for e, meta
                            in zip(self.pending, self.pending_meta, strict=True)])

    def saved(self) -> None:
        """Its pending events are written."""
        self.pending.clear()
        self.pending_meta.clear()


def stream_id_of(cls: type[Aggregate], aggregate_id: str) -> str:
    return f"{cls.stream_prefix}-{aggregate_id}"


A = TypeVar("A", bound=Aggregate)


class Repository(Generic[A]):
    """Loads an aggregate by replaying its stream; saves its new events atomically.

    With `cache_size`, loaded aggregates are kept and a later load reads only the events
    appended since (by any writer): the stream stays the truth, the cache only saves
    replaying it. A stale copy is harmless: saving it fails with ConcurrencyError. A copy
    read inside a transaction that then rolled back is noticed (its last event is no
    longer the stream's) and replaced by a full replay.

    `get(..., trust_cache=True)` skips even that read for a copy known to be committed
    (read or saved outside a caller's transaction): for commands whose outcome only
    moves forward, where a stale copy merely fails to save (ConcurrencyError, which
    drops it from the cache) and the retry reads the stream.

    `get_many` loads many aggregates with one query, each from its committed copy.

    With `group`, saves made outside a caller's transaction share transactions with
    other concurrent saves to the same store (kernel/groupcommit.py).
    """

    def __init__(self, store: EventStore, codec: EventCodec, cls: type[A],
                 cache_size: int = 0, group: GroupCommit | None = None) -> None:
        self.store = store
        self.codec = codec
        self.cls = cls
        self.cache_size = cache_size
        self.group = group
        # aggregate id -> (copy, id of the last event applied to it, known committed)
        self._cache: OrderedDict[str, tuple[A, str, bool]] = OrderedDict()

    async def get(self, aggregate_id: str, conn: AsyncConnection | None = None, *,
                  trust_cache: bool = False) -> A:
        stream_id = stream_id_of(self.cls, aggregate_id)
        cached = self._cache.pop(aggregate_id, None)
        if cached is not None and trust_cache and conn is None and cached[2]:
            self._cache[aggregate_id] = cached
            return _copy(cached[0])
        if cached is not None:
            aggregate, last_id = _copy(cached[0]), cached[1]
            # Re-read the cached last event too: if it is gone or another took its
            # version, the copy came from a rolled-back transaction.
            stored = await self.store.read_stream(stream_id, aggregate.version - 1, conn)
            if stored and stored[0].event_id == last_id:
                return self._caught_up(aggregate, stored[1:], last_id, conn is None)
        stored = await self.store.read_stream(stream_id, conn=conn)
        return self._caught_up(self.cls(aggregate_id), stored, "", conn is None)

    async def get_many(self, aggregate_ids: Iterable[str],
                       conn: AsyncConnection | None = None) -> dict[str, A]:
        """Many aggregates, each free to change: one query reads the events every stream
        gained since the committed copy kept of it (all of them if none is kept).
        `conn`, if given, only reads (kernel.db.reading): what it finds is committed."""
        found = {i: self._committed_copy(i) for i in dict.fromkeys(aggregate_ids)}
        streams = {stream_id_of(self.cls, i): i for i in found}
        versions = {s: found[i][0].version for s, i in streams.items()}
        if conn is None:
            async with reading(self.store.engine) as own:
                news = await self.store.read_since(versions, own)
        else:
            news = await self.store.read_since(versions, conn)
        moved: set[str] = set()
        for stream_id, event_id, event_type, payload in news:
            aggregate = found[streams[stream_id]][0]
            aggregate._apply(self.codec.decode_payload(event_type, payload))
            found[aggregate.id] = (aggregate, event_id)
            moved.add(aggregate.id)
        for i, (aggregate, last_id) in found.items():
            if i in moved:
                self._remember(aggregate, last_id, committed=True)
            elif i in self._cache:  # the copy kept is current: it only moves up the line
                self._cache.move_to_end(i)
        return {i: aggregate for i, (aggregate, _) in found.items()}

    def _committed_copy(self, aggregate_id: str) -> tuple[A, str]:
        cached = self._cache.get(aggregate_id)
        if cached is None or not cached[2]:
            return self.cls(aggregate_id), ""
        return _copy(cached[0]), cached[1]

    def _caught_up(self, aggregate: A, stored: list[StoredEvent], last_id: str,
                   committed: bool) -> A:
        for event in stored:
            aggregate._apply(self.codec.decode(event))
        self._remember(aggregate, stored[-1].event_id if stored else last_id, committed)
        return aggregate

    async def save(self, *aggregates: Aggregate, conn: AsyncConnection | None = None,
                   extra: Extra | None = None) -> None:
        """Append the aggregates' new events atomically, in `conn`'s transaction if given;
        `extra` writes the caller's own rows in the same transaction (without `conn`)."""
        writes = [a.pending_write(self.codec) for a in aggregates if a.pending]
        try:
            await self._write(writes, conn, extra)
        except ConcurrencyError:
            for aggregate in aggregates:  # a copy that could not be saved is stale
                self._cache.pop(aggregate.id, None)
            raise
        last_ids = {w.stream_id: w.events[-1].event_id for w in writes if w.events}
        for aggregate in aggregates:
            aggregate.saved()
            written = last_ids.get(aggregate.stream_id)
            if conn is None and written and isinstance(aggregate, self.cls):
                self._remember(aggregate, written, committed=True)

    async def _write(self, writes: list[StreamWrite], conn: AsyncConnection | None,
                     extra: Extra | None) -> None:
        if conn is not None:
            await self.store.append_many(writes, conn)
            if extra is not None:
                await extra(conn)
        elif self.group is not None:
            await self.group.save(writes, extra)
        elif extra is not None:
            async with self.store.transaction() as own:
                await self.store.append_many(writes, own)
                await extra(own)
        else:
            await self.store.append_many(writes)

    def _remember(self, aggregate: A, last_id: str, committed: bool) -> None:
        if not self.cache_size or aggregate.pending or not aggregate.version:
            return
        self._cache[aggregate.id] = (_copy(aggregate), last_id, committed)
        self._cache.move_to_end(aggregate.id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)


def _copy(aggregate: A) -> A:
    """A copy free to change on its own (its `pending` is empty, as kept copies' are)."""
    if not aggregate.immutable_state:
        return copy.deepcopy(aggregate)
    twin = copy.copy(aggregate)
    twin.pending, twin.pending_meta = [], []
    return twin

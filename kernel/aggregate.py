"""Aggregates rebuilt from their events, and the repository that loads and saves them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.codec import EventCodec
from kernel.eventstore import EventStore, StreamWrite


class Aggregate:
    """Holds state that only its own past-tense events change.

    A subclass handles each event in a method named `when_<EventName>`; commands check
    rules and call `_record(event)`, which applies the event and keeps it to be saved.
    """

    stream_prefix = ""

    def __init__(self, aggregate_id: str) -> None:
        self.id = aggregate_id
        self.version = 0
        self.pending: list[Any] = []

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

    def _apply(self, event: Any) -> None:
        getattr(self, f"when_{type(event).__name__}")(event)
        self.version += 1

    def pending_write(self, codec: EventCodec) -> StreamWrite:
        expected = self.version - len(self.pending)
        return StreamWrite(self.stream_id, expected, [codec.encode(e) for e in self.pending])


def stream_id_of(cls: type[Aggregate], aggregate_id: str) -> str:
    return f"{cls.stream_prefix}-{aggregate_id}"


A = TypeVar("A", bound=Aggregate)


class Repository(Generic[A]):
    """Loads an aggregate by replaying its stream; saves its new events atomically."""

    def __init__(self, store: EventStore, codec: EventCodec, cls: type[A]) -> None:
        self.store = store
        self.codec = codec
        self.cls = cls

    async def get(self, aggregate_id: str, conn: AsyncConnection | None = None) -> A:
        stored = await self.store.read_stream(stream_id_of(self.cls, aggregate_id), conn=conn)
        aggregate: A = self.cls.rebuild(aggregate_id, (self.codec.decode(s) for s in stored))
        return aggregate

    async def save(self, *aggregates: Aggregate, conn: AsyncConnection | None = None) -> None:
        writes = [a.pending_write(self.codec) for a in aggregates if a.pending]
        await self.store.append_many(writes, conn)
        for aggregate in aggregates:
            aggregate.pending.clear()

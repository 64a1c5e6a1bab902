"""Reservations read many at a time: one query for all the message ids of a batch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from kernel.aggregate import stream_id_of
from kernel.codec import EventCodec
from kernel.db import reading
from kernel.eventstore import EventStore
from kernel.tables import events_table
from services.billing.domain.model import Reservation

CHUNK = 500


class ReservationReader:
    def __init__(self, store: EventStore, codec: EventCodec) -> None:
        self._store = store
        self._codec = codec

    async def load(self, message_ids: Iterable[str]) -> dict[str, Reservation]:
        """The reservations opened for these ids; ids never reserved are left out."""
        streams = {stream_id_of(Reservation, m): m for m in message_ids}
        found: dict[str, list[Any]] = defaultdict(list)
        names = list(streams)
        async with reading(self._store.engine) as conn:
            for start in range(0, len(names), CHUNK):
                rows = await conn.execute(_query(names[start:start + CHUNK]))
                for row in rows:
                    event = self._codec.decode_payload(row.event_type, row.payload)
                    found[streams[row.stream_id]].append(event)
        return {m: Reservation.rebuild(m, evs) for m, evs in found.items()}

    async def owners(self, message_ids: Iterable[str]) -> dict[str, int]:
        return {m: r.user_id for m, r in (await self.load(message_ids)).items()}


def _query(stream_ids: list[str]) -> Any:
    t = events_table
    return (select(t.c.stream_id, t.c.event_type, t.c.payload)
            .where(t.c.stream_id.in_(stream_ids))
            .order_by(t.c.stream_id, t.c.stream_version))

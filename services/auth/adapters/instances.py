"""The write side of instances: instance streams, public-key claims and the number counter."""

from __future__ import annotations

import asyncio

from kernel.aggregate import Aggregate, Repository
from kernel.codec import EventCodec
from kernel.eventstore import EventStore
from services.auth.domain.instances import (
    INSTANCE_NUMBERS,
    Instance,
    InstanceNumbers,
    PublicKeyClaim,
)


class InstanceStore:
    def __init__(self, store: EventStore, codec: EventCodec, cache_size: int = 10_000) -> None:
        self._instances = Repository(store, codec, Instance, cache_size=cache_size)
        self._claims = Repository(store, codec, PublicKeyClaim)
        self._numbers = Repository(store, codec, InstanceNumbers, cache_size=1)
        # Creations in this process take turns on the counter; other processes are kept
        # out by the unique (stream_id, stream_version) and retried.
        self.creating = asyncio.Lock()

    async def instance(self, instance_id: str) -> Instance:
        return await self._instances.get(instance_id)

    async def key_claim(self, public_key: str) -> PublicKeyClaim:
        return await self._claims.get(public_key)

    async def numbers(self) -> InstanceNumbers:
        return await self._numbers.get(INSTANCE_NUMBERS)

    async def save(self, *aggregates: Aggregate) -> None:
        await self._instances.save(*aggregates)

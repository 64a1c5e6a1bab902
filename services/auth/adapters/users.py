"""The user directory: users, username claims and the id counter, in the event store."""

from __future__ import annotations

import asyncio

from kernel.aggregate import Aggregate, Repository
from kernel.codec import EventCodec
from kernel.eventstore import EventStore
from services.auth.domain.model import USER_IDS, User, UserIds, UsernameClaim
from services.auth.domain.rules import name_key

NOBODY = 0  # ids are given from 1


class UserDirectory:
    """Loads (through catch-up caches) and saves the auth aggregates."""

    def __init__(self, store: EventStore, codec: EventCodec, cache_size: int = 10_000) -> None:
        self._users = Repository(store, codec, User, cache_size=cache_size)
        self._claims = Repository(store, codec, UsernameClaim, cache_size=cache_size)
        self._ids = Repository(store, codec, UserIds, cache_size=1)
        # Registrations in this process take turns; other processes are kept out by the
        # unique (stream_id, stream_version) and retried.
        self.registering = asyncio.Lock()

    async def user(self, user_id: int) -> User:
        return await self._users.get(str(user_id))

    async def claim(self, username: str) -> UsernameClaim:
        return await self._claims.get(name_key(username))

    async def user_ids(self) -> UserIds:
        return await self._ids.get(USER_IDS)

    async def by_username(self, username: str) -> User | None:
        """The user holding `username`. An unknown name costs the same two reads (user
        id 0 is never given), so a sign-in's timing does not tell whether it exists."""
        claim = await self.claim(username)
        user = await self.user(claim.user_id if claim.taken else NOBODY)
        return user if claim.taken else None

    async def save(self, *aggregates: Aggregate) -> None:
        await self._users.save(*aggregates)

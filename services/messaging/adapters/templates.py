"""Templates in the event store: users' template books and the template id counter."""

from __future__ import annotations

from kernel.aggregate import Aggregate, Repository
from kernel.eventstore import EventStore
from services.messaging.adapters.codec import messaging_codec
from services.messaging.domain.templates import TEMPLATE_IDS, TemplateBook, TemplateIds


class TemplateStore:
    def __init__(self, store: EventStore, cache_size: int = 10_000) -> None:
        codec = messaging_codec()
        self._books = Repository(store, codec, TemplateBook, cache_size=cache_size)
        self._ids = Repository(store, codec, TemplateIds, cache_size=1)

    async def book(self, user_id: int) -> TemplateBook:
        return await self._books.get(str(user_id))

    async def ids(self) -> TemplateIds:
        return await self._ids.get(TEMPLATE_IDS)

    async def save(self, *aggregates: Aggregate) -> None:
        await self._books.save(*aggregates)

"""Webhook registrations: the aggregate's events and its row, in one transaction (the
URL checked by the target guard first, at most `max_per_user` active per user; a removal
cancels what the webhook still had queued); and the reads behind ListWebhooks and
ListWebhookDeliveries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.aggregate import Repository
from kernel.db import reading
from kernel.eventstore import EventStore
from services.messaging.adapters.codec import messaging_codec
from services.messaging.adapters.webhook_guard import TargetGuard
from services.messaging.adapters.webhook_outbox import cancel_queued
from services.messaging.adapters.webhook_tables import webhook_deliveries, webhooks
from services.messaging.domain.webhook import (
    Webhook,
    WebhookLimitError,
    WebhookNotFoundError,
    WebhookRegistered,
    new_webhook_id,
)

MAX_LIMIT = 200


async def _active_count(conn: AsyncConnection, user_id: int) -> int:
    query = select(func.count()).select_from(webhooks).where(
        webhooks.c.user_id == user_id, webhooks.c.active)
    return int((await conn.execute(query)).scalar_one())


class WebhookStore:
    def __init__(self, store: EventStore, guard: TargetGuard, max_per_user: int = 10,
                 new_id: Callable[[], str] = new_webhook_id) -> None:
        self.store = store
        self.repository = Repository(store, messaging_codec(), Webhook)
        self.guard = guard
        self.max_per_user = max_per_user
        self.new_id = new_id

    async def register(self, user_id: int, url: str, secret: str) -> WebhookRegistered:
        hook = Webhook(self.new_id())
        hook.register(user_id, await self.guard.check(url), secret, datetime.now(UTC))
        event: WebhookRegistered = hook.pending[0]
        async with self.store.transaction() as conn:
            # The save comes first: it serialises registrations (SQLite's write lock,
            # PostgreSQL's lock on the events table), so the count sees every other one.
            await self.repository.save(hook, conn=conn)
            if await _active_count(conn, user_id) >= self.max_per_user:
                raise WebhookLimitError(self.max_per_user)
            await conn.execute(webhooks.insert().values(
                webhook_id=event.webhook_id, user_id=user_id, url=event.url,
                secret=event.secret, active=True, created_at=event.registered_at))
        return event

    async def remove(self, user_id: int, webhook_id: str) -> None:
        if not await self._owned(user_id, webhook_id):
            raise WebhookNotFoundError(webhook_id)
        async with self.store.transaction() as conn:
            hook = await self.repository.get(webhook_id, conn)
            hook.remove(user_id, datetime.now(UTC))
            await self.repository.save(hook, conn=conn)
            await conn.execute(update(webhooks).where(webhooks.c.webhook_id == webhook_id)
                               .values(active=False))
            await cancel_queued(conn, webhook_id)

    async def listing(self, user_id: int) -> list[Any]:
        query = (select(webhooks).where(webhooks.c.user_id == user_id, webhooks.c.active)
                 .order_by(webhooks.c.created_at, webhooks.c.webhook_id))
        async with reading(self.store.engine) as conn:
            return list((await conn.execute(query)).all())

    async def deliveries(self, user_id: int, webhook_id: str, limit: int) -> list[Any]:
        if not await self._owned(user_id, webhook_id):
            raise WebhookNotFoundError(webhook_id)
        d = webhook_deliveries
        query = (select(d).where(d.c.webhook_id == webhook_id).order_by(d.c.id.desc())
                 .limit(min(limit or 50, MAX_LIMIT)))
        async with reading(self.store.engine) as conn:
            return list((await conn.execute(query)).all())

    async def _owned(self, user_id: int, webhook_id: str) -> bool:
        query = select(webhooks.c.webhook_id).where(
            webhooks.c.webhook_id == webhook_id[:40], webhooks.c.user_id == user_id,
            webhooks.c.active)
        async with reading(self.store.engine) as conn:
            return (await conn.execute(query)).first() is not None

"""The webhook handlers, each `handle(cmd, deps)`: a user registers, lists and removes
their webhooks and reads a webhook's deliveries; the store (adapters/webhook_store.py)
checks the target, the per-user limit and ownership."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.messaging.app.dependencies import MessagingDeps
from services.messaging.domain.webhook import WebhookRegistered


@dataclass(frozen=True)
class CreateWebhook:
    user_id: int
    url: str
    secret: str


@dataclass(frozen=True)
class ListWebhooks:
    user_id: int


@dataclass(frozen=True)
class DeleteWebhook:
    user_id: int
    webhook_id: str


@dataclass(frozen=True)
class ListDeliveries:
    user_id: int
    webhook_id: str
    limit: int = 0  # 0: the store's default


async def create_webhook(cmd: CreateWebhook, deps: MessagingDeps) -> WebhookRegistered:
    return await deps.webhooks.register(cmd.user_id, cmd.url, cmd.secret)


async def list_webhooks(query: ListWebhooks, deps: MessagingDeps) -> list[Any]:
    return await deps.webhooks.listing(query.user_id)


async def delete_webhook(cmd: DeleteWebhook, deps: MessagingDeps) -> None:
    await deps.webhooks.remove(cmd.user_id, cmd.webhook_id)


async def list_deliveries(query: ListDeliveries, deps: MessagingDeps) -> list[Any]:
    return await deps.webhooks.deliveries(query.user_id, query.webhook_id, query.limit)

"""Webhooks: /api/webhooks (status-change receivers of the signed-in user) and their
delivery log. Validation of the URL is the messaging service's (INVALID_REQUEST)."""

from __future__ import annotations

from fastapi import Query
from pydantic import Field

from gateway.deps import CurrentUser, ServiceClients
from gateway.leanroute import api_router
from gateway.shapes import (
    DeliveryList,
    WebhookCreated,
    WebhookDeleted,
    WebhookList,
    refusals,
)
from gateway.text import RequestBody
from gateway.timefmt import iso_z
from switchboard.messaging.v1 import messaging_pb2 as pb

router = api_router(prefix="/api/webhooks", tags=["webhooks"],
                   responses=refusals(401, 404))


class WebhookBody(RequestBody):
    url: str = Field(max_length=4096, examples=["https://example.com/switchboard-hooks"])
    secret: str | None = Field(default=None, max_length=1024, examples=["whsec_my_secret"])


def _hook(hook: pb.Webhook) -> dict[str, object]:
    return {"webhook_id": hook.webhook_id, "url": hook.url,
            "created_at": iso_z(hook.created_at)}


def _delivery(row: pb.WebhookDelivery) -> dict[str, object]:
    return {"delivery_id": row.delivery_id, "event_id": row.event_id,
            "queue_id": row.queue_id, "status": row.status, "state": row.state,
            "attempts": row.attempts, "last_status_code": row.last_status_code or None,
            "last_error": row.last_error or None,
            "next_attempt_at": iso_z(row.next_attempt_at),
            "created_at": iso_z(row.created_at), "delivered_at": iso_z(row.delivered_at)}


@router.post("", status_code=201, response_model=WebhookCreated)
async def create_webhook(body: WebhookBody, user: CurrentUser,
                         clients: ServiceClients) -> dict[str, object]:
    """Register a URL (public http or https) that receives the user's status changes, signed with
    `secret` (generated when not given, and shown only here). At most 10 per user."""
    hook = await clients.messaging.CreateWebhook(pb.CreateWebhookRequest(
        user_id=user.user_id, url=body.url, secret=body.secret or ""))
    return {**_hook(hook), "secret": hook.secret}


@router.get("", response_model=WebhookList)
async def list_webhooks(user: CurrentUser, clients: ServiceClients) -> dict[str, object]:
    """The user's webhooks, without their secrets."""
    found = await clients.messaging.ListWebhooks(pb.ListWebhooksRequest(user_id=user.user_id))
    return {"webhooks": [_hook(h) for h in found.webhooks]}


@router.delete("/{webhook_id}", response_model=WebhookDeleted)
async def delete_webhook(webhook_id: str, user: CurrentUser,
                         clients: ServiceClients) -> dict[str, object]:
    """Delete a webhook; its queued deliveries are cancelled."""
    await clients.messaging.DeleteWebhook(pb.DeleteWebhookRequest(
        user_id=user.user_id, webhook_id=webhook_id[:100]))
    return {"message": "Webhook deleted", "webhook_id": webhook_id}


@router.get("/{webhook_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(webhook_id: str, user: CurrentUser, clients: ServiceClients,
                          limit: int = Query(default=50, ge=1, le=200)) -> dict[str, object]:
    """A webhook's deliveries, newest first: state, attempts, the last answer or error."""
    found = await clients.messaging.ListWebhookDeliveries(pb.ListWebhookDeliveriesRequest(
        user_id=user.user_id, webhook_id=webhook_id[:100], limit=limit))
    return {"deliveries": [_delivery(d) for d in found.deliveries]}

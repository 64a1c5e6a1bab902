"""The webhook rpcs of MessagingService, mixed into its servicer: requests to commands
for app/webhooks.py, results to replies."""

from __future__ import annotations

from typing import Any

import grpc

from kernel.clock import to_timestamp
from services.messaging.app import webhooks
from services.messaging.app.dependencies import MessagingDeps
from services.messaging.app.webhooks import (
    CreateWebhook,
    DeleteWebhook,
    ListDeliveries,
    ListWebhooks,
)
from switchboard.messaging.v1 import messaging_pb2 as pb


def delivery_reply(row: Any) -> pb.WebhookDelivery:
    return pb.WebhookDelivery(
        delivery_id=str(row.id), event_id=row.event_id, queue_id=row.queue_id,
        status=row.status.capitalize(), state=row.state, attempts=row.attempts,
        last_status_code=row.last_status_code or 0, last_error=row.last_error or "",
        next_attempt_at=to_timestamp(row.next_attempt_at), created_at=to_timestamp(row.created_at),
        delivered_at=to_timestamp(row.delivered_at))


class WebhookRpcs:
    deps: MessagingDeps

    async def CreateWebhook(self, request: pb.CreateWebhookRequest,
                            context: grpc.aio.ServicerContext) -> pb.Webhook:
        event = await webhooks.create_webhook(CreateWebhook(
            request.user_id, request.url, request.secret), self.deps)
        return pb.Webhook(webhook_id=event.webhook_id, url=event.url, secret=event.secret,
                          created_at=to_timestamp(event.registered_at))

    async def ListWebhooks(self, request: pb.ListWebhooksRequest,
                           context: grpc.aio.ServicerContext) -> pb.ListWebhooksResponse:
        rows = await webhooks.list_webhooks(ListWebhooks(request.user_id), self.deps)
        return pb.ListWebhooksResponse(webhooks=[
            pb.Webhook(webhook_id=r.webhook_id, url=r.url, created_at=to_timestamp(r.created_at))
            for r in rows])

    async def DeleteWebhook(self, request: pb.DeleteWebhookRequest,
                            context: grpc.aio.ServicerContext) -> pb.DeleteWebhookResponse:
        await webhooks.delete_webhook(DeleteWebhook(request.user_id, request.webhook_id),
                                      self.deps)
        return pb.DeleteWebhookResponse()

    async def ListWebhookDeliveries(self, request: pb.ListWebhookDeliveriesRequest,
                                    context: grpc.aio.ServicerContext
                                    ) -> pb.ListWebhookDeliveriesResponse:
        rows = await webhooks.list_deliveries(ListDeliveries(
            request.user_id, request.webhook_id, request.limit), self.deps)
        return pb.ListWebhookDeliveriesResponse(deliveries=[delivery_reply(r) for r in rows])

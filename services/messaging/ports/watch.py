"""The webhook rpcs of MessagingService, mixed into its servicer: requests to the
webhook store's calls, its rows to replies."""

from __future__ import annotations

from typing import Any

import grpc

from kernel.clock import to_timestamp
from services.messaging.adapters.webhook_store import WebhookStore
from switchboard.messaging.v1 import messaging_pb2 as pb


def delivery_reply(row: Any) -> pb.WebhookDelivery:
    return pb.WebhookDelivery(
        delivery_id=str(row.id), event_id=row.event_id, queue_id=row.queue_id,
        status=row.status.capitalize(), state=row.state, attempts=row.attempts,
        last_status_code=row.last_status_code or 0, last_error=row.last_error or "",
        next_attempt_at=to_timestamp(row.next_attempt_at), created_at=to_timestamp(row.created_at),
        delivered_at=to_timestamp(row.delivered_at))


class WebhookRpcs:
    webhooks: WebhookStore

    async def CreateWebhook(self, request: pb.CreateWebhookRequest,
                            context: grpc.aio.ServicerContext) -> pb.Webhook:
        event = await self.webhooks.register(request.user_id, request.url, request.secret)
        return pb.Webhook(webhook_id=event.webhook_id, url=event.url, secret=event.secret,
                          created_at=to_timestamp(event.registered_at))

    async def ListWebhooks(self, request: pb.ListWebhooksRequest,
                           context: grpc.aio.ServicerContext) -> pb.ListWebhooksResponse:
        rows = await self.webhooks.listing(request.user_id)
        return pb.ListWebhooksResponse(webhooks=[
            pb.Webhook(webhook_id=r.webhook_id, url=r.url, created_at=to_timestamp(r.created_at))
            for r in rows])

    async def DeleteWebhook(self, request: pb.DeleteWebhookRequest,
                            context: grpc.aio.ServicerContext) -> pb.DeleteWebhookResponse:
        await self.webhooks.remove(request.user_id, request.webhook_id)
        return pb.DeleteWebhookResponse()

    async def ListWebhookDeliveries(self, request: pb.ListWebhookDeliveriesRequest,
                                    context: grpc.aio.ServicerContext
                                    ) -> pb.ListWebhookDeliveriesResponse:
        rows = await self.webhooks.deliveries(request.user_id, request.webhook_id,
                                              request.limit)
        return pb.ListWebhookDeliveriesResponse(deliveries=[delivery_reply(r) for r in rows])

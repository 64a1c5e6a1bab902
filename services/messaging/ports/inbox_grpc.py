"""The inbox rpcs of MessagingService, mixed into its servicer: requests to queries,
received messages to replies (also the live stream's `received` events)."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from kernel.clock import from_timestamp, to_timestamp
from services.messaging.app import inbox as app
from services.messaging.app.dependencies import MessagingDeps
from services.messaging.domain.inbox import InboundEntry
from switchboard.messaging.v1 import messaging_pb2 as pb

Ctx: TypeAlias = grpc.aio.ServicerContext


def inbound_reply(entry: InboundEntry) -> pb.InboundMessage:
    return pb.InboundMessage(
        message_id=entry.message_id, device_id=entry.device_id,
        transport_message_id=entry.transport_message_id, from_phone=entry.from_phone,
        from_lid=entry.from_lid, to_phone=entry.to_phone, chat_id=entry.chat_id,
        is_group=entry.is_group, type=entry.type, text=entry.text,
        media_sha256=entry.media_sha256, media_mime_type=entry.media_mime_type,
        media_size_bytes=entry.media_size_bytes, media_filename=entry.media_filename,
        quoted_transport_message_id=entry.quoted_transport_message_id,
        quoted_message_id=entry.quoted_message_id,
        sent_at=to_timestamp(entry.sent_at) if entry.sent_at else None,
        received_at=to_timestamp(entry.received_at), latitude=entry.latitude,
        longitude=entry.longitude, vcard=entry.vcard, from_name=entry.from_name)


class InboxRpcs:
    deps: MessagingDeps

    async def ListInbox(self, request: pb.ListInboxRequest, context: Ctx
                        ) -> pb.ListInboxResponse:
        since = from_timestamp(request.since) if request.HasField("since") else None
        page = await app.list_inbox(app.ListInbox(
            request.user_id, request.page, request.per_page, request.number, since,
            request.device_id), self.deps)
        return pb.ListInboxResponse(messages=[inbound_reply(e) for e in page.entries],
                                    page=page.page, per_page=page.per_page,
                                    total=page.total, pages=page.pages)

    async def GetInboundMessage(self, request: pb.GetInboundMessageRequest, context: Ctx
                                ) -> pb.InboundMessage:
        query = app.GetInbound(request.user_id, request.message_id, request.device_id)
        return inbound_reply(await app.get_inbound(query, self.deps))

"""The MessagingService gRPC API: requests to commands, results to replies. Nothing else;
domain errors become statuses in the kernel's interceptor (kernel/rpc.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from datetime import datetime
from typing import cast

import grpc

from kernel.clock import from_timestamp, to_timestamp
from kernel.codec import from_proto, to_proto
from services.messaging.app import bulk_send, handlers, instance_send
from services.messaging.app.bulk_send import GetBulkJob, SendBulkMessage
from services.messaging.app.dependencies import MessagingDeps
from services.messaging.app.handlers import GetMessageStatus, ListMessages, SendMessage
from services.messaging.app.instance_send import SendInstanceMessage
from services.messaging.domain.events import Media
from services.messaging.domain.lifecycle import HistoryEntry, Status
from services.messaging.ports.idempotency_grpc import IdempotencyRpcs
from services.messaging.ports.inbox_grpc import InboxRpcs
from services.messaging.ports.templates_grpc import TemplateRpcs
from services.messaging.ports.watch import WebhookRpcs
from services.messaging.ports.watch_stream import StatusWatch
from switchboard.messaging.v1 import events_pb2, messaging_pb2_grpc
from switchboard.messaging.v1 import messaging_pb2 as pb

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["MessagingService"].full_name


def media_of(request: pb.SendMessageRequest | pb.SendBulkMessageRequest
             | pb.SendInstanceMessageRequest) -> Media | None:
    return cast(Media, from_proto(request.media, Media)) if request.HasField("media") \
        else None


def status_reply(entry: HistoryEntry) -> pb.MessageStatus:
    return pb.MessageStatus(
        queue_id=entry.queue_id, number=entry.number or "", message=entry.message or "",
        status=pb.Status.Value(f"STATUS_{entry.status.name}"),
        error_message=entry.error_message or "", created_at=to_timestamp(entry.created_at),
        updated_at=to_timestamp(entry.updated_at), is_complete=entry.status.is_complete,
        is_error=entry.status.is_error)


def _moment(request: pb.ListMessagesRequest, name: str) -> datetime | None:
    if not request.HasField(name):
        return None
    return from_timestamp(getattr(request, name))


def status_filter(value: int) -> Status | None:
    if value == pb.STATUS_UNSPECIFIED:
        return None
    return Status[pb.Status.Name(value).removeprefix("STATUS_")]


class MessagingServicer(TemplateRpcs, IdempotencyRpcs, WebhookRpcs, InboxRpcs,
                        messaging_pb2_grpc.MessagingServiceServicer):
    def __init__(self, deps: MessagingDeps, watch: StatusWatch) -> None:
        self.deps = deps
        self.watch = watch

    async def SendMessage(self, request: pb.SendMessageRequest,
                          context: grpc.aio.ServicerContext) -> pb.SendMessageResponse:
        accepted = await handlers.send_message(SendMessage(
            whatsapp_template=request.whatsapp_template,
            user_id=request.user_id, number=request.number, message=request.message,
            template_id=request.template_id, variables=dict(request.variables),
            id_seed=request.id_seed, media=media_of(request)), self.deps)
        return pb.SendMessageResponse(
            queue_id=accepted.queue_id, remaining_credits=accepted.remaining_credits,
            queue_position=accepted.queue_position,
            available_devices=accepted.pool.available_devices,
            total_devices=accepted.pool.total_devices, queue_type=accepted.pool.queue_type)

    async def SendInstanceMessage(self, request: pb.SendInstanceMessageRequest,
                                  context: grpc.aio.ServicerContext
                                  ) -> pb.SendInstanceMessageResponse:
        accepted = await instance_send.send_instance_message(SendInstanceMessage(
            instance_id=request.instance_id, user_id=request.user_id, number=request.number,
            message=request.message, id_seed=request.id_seed, media=media_of(request)),
            self.deps)
        return pb.SendInstanceMessageResponse(
            message_id=accepted.message_id,
            status=pb.Status.Value(f"STATUS_{accepted.status.name}"),
            number=accepted.number, message=accepted.body,
            queued_at=to_timestamp(accepted.queued_at), quota_remaining=accepted.quota.remaining,
            quota_used=accepted.quota.used, quota_total=accepted.quota.total,
            sent_at=to_timestamp(accepted.sent_at), error_message=accepted.error_message or "")

    async def SendBulkMessage(self, request: pb.SendBulkMessageRequest,
                              context: grpc.aio.ServicerContext) -> pb.SendBulkMessageResponse:
        accepted = await bulk_send.send_bulk_message(SendBulkMessage(
            user_id=request.user_id, numbers=list(request.numbers), message=request.message,
            template_id=request.template_id, variables=dict(request.variables),
            id_seed=request.id_seed, media=media_of(request)), self.deps)
        return pb.SendBulkMessageResponse(queue_ids=accepted.queue_ids,
                                          remaining_credits=accepted.remaining_credits,
                                          job_id=accepted.job_id)

    async def GetBulkJob(self, request: pb.GetBulkJobRequest,
                         context: grpc.aio.ServicerContext) -> pb.BulkJob:
        job = await bulk_send.get_bulk_job(GetBulkJob(request.user_id, request.job_id),
                                           self.deps)
        counts = {status.label: job.count(status) for status in Status}
        return pb.BulkJob(job_id=job.job_id, total=job.total,
                          created_at=to_timestamp(job.created_at), **counts)

    async def FetchMedia(self, request: pb.FetchMediaRequest,
                         context: grpc.aio.ServicerContext) -> events_pb2.MediaAttachment:
        media = await self.deps.media.fetch(request.url, request.filename)
        return cast(events_pb2.MediaAttachment, to_proto(media, events_pb2.MediaAttachment))

    async def GetMessageStatus(self, request: pb.GetMessageStatusRequest,
                               context: grpc.aio.ServicerContext) -> pb.MessageStatus:
        query = GetMessageStatus(request.user_id, request.queue_id)
        return status_reply(await handlers.get_message_status(query, self.deps))

    async def ListMessages(self, request: pb.ListMessagesRequest,
                           context: grpc.aio.ServicerContext) -> pb.ListMessagesResponse:
        page = await handlers.list_messages(ListMessages(
            user_id=request.user_id, page=request.page, per_page=request.per_page,
            status=status_filter(request.status), number=request.number,
            since=_moment(request, "since"), until=_moment(request, "until")), self.deps)
        return pb.ListMessagesResponse(
            messages=[status_reply(e) for e in page.entries], page=page.page,
            per_page=page.per_page, total=page.total, pages=page.pages)

    async def WatchMessages(self, request: pb.WatchMessagesRequest,
                            context: grpc.aio.ServicerContext
                            ) -> AsyncIterator[pb.MessageStatusEvents]:
        async with aclosing(self.watch.WatchMessages(request, context)) as batches:
            async for batch in batches:
                yield batch


def registrar(servicer: MessagingServicer) -> Callable[[grpc.aio.Server], None]:
    def register(server: grpc.aio.Server) -> None:
        messaging_pb2_grpc.add_MessagingServiceServicer_to_server(servicer, server)

    return register

"""CloudWebhookService over gRPC: the statuses and messages the gateway took from Meta's
verified webhooks, handed to the cloud transport, which reports them as receipts and
inbound messages.

`cloud_parts(transport)` is what the composition root adds to its gRPC server: the
servicer when the transport is the cloud one, nothing otherwise. The cloud package (and
its HTTP client) is loaded by a cloud transport alone (adapters/transports.py), never here.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import grpc

from kernel.rpc import Registrar
from services.device.app.transport import Transport
from switchboard.device.v1 import cloud_pb2, cloud_pb2_grpc

if TYPE_CHECKING:
    from services.device.adapters.cloud import CloudMessage, CloudStatus, CloudTransport

CLOUD_PACKAGE = "services.device.adapters.cloud"

CLOUD_SERVICE_NAME = cloud_pb2.DESCRIPTOR.services_by_name["CloudWebhookService"].full_name


def status_from(message: cloud_pb2.CloudStatus) -> CloudStatus:
    from services.device.adapters.cloud import CloudStatus, CloudStatusError

    return CloudStatus(
        phone_number_id=message.phone_number_id, wamid=message.id, status=message.status,
        timestamp=message.timestamp, recipient_id=message.recipient_id,
        tracker=message.biz_opaque_callback_data,
        errors=tuple(CloudStatusError(e.code, e.title, e.message, e.details)
                     for e in message.errors))


def message_from(message: cloud_pb2.CloudMessage) -> CloudMessage:
    from services.device.adapters.cloud import CloudMessage

    return CloudMessage(message.phone_number_id, _object(message.message_json),
                        _object(message.contact_json))


def _object(text: str) -> dict[str, Any]:
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


class CloudWebhookServicer(cloud_pb2_grpc.CloudWebhookServiceServicer):
    def __init__(self, transport: CloudTransport) -> None:
        self.transport = transport

    def register(self, server: grpc.aio.Server) -> None:
        cloud_pb2_grpc.add_CloudWebhookServiceServicer_to_server(self, server)

    async def ReportStatuses(self, request: Any, context: Any
                             ) -> cloud_pb2.ReportStatusesResponse:
        tally = await self.transport.accept_statuses([status_from(s) for s in request.statuses])
        return cloud_pb2.ReportStatusesResponse(receipts=tally.receipts,
                                                duplicates=tally.duplicates,
                                                failed=tally.failed, ignored=tally.ignored)

    async def ReportMessages(self, request: Any, context: Any
                             ) -> cloud_pb2.ReportMessagesResponse:
        tally = await self.transport.accept_messages([message_from(m)
                                                      for m in request.messages])
        return cloud_pb2.ReportMessagesResponse(received=tally.received, ignored=tally.ignored)


def cloud_parts(transport: Transport) -> tuple[list[Registrar], list[str]]:
    """(registrars, service names) to serve beside DeviceService."""
    cloud = sys.modules.get(CLOUD_PACKAGE)  # no cloud transport exists before it is loaded
    if cloud is None or not isinstance(transport, cloud.CloudTransport):
        return [], []
    return [CloudWebhookServicer(transport).register], [CLOUD_SERVICE_NAME]

"""Instance API: the messages that arrived on the calling instance's number (docs/api.md,
"Inbound messages"): GET /api/v1/whatsapp/messages/incoming, newest first, in the API's
envelope and camelCase, and GET /api/v1/whatsapp/messages/incoming/{messageId}/media."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request, Response

from gateway.deps import InstanceCaller, ServiceClients
from gateway.inbox import (
    FILE,
    MAX_PER_PAGE,
    IncomingPage,
    instance_item,
    media_response,
    pagination,
)
from gateway.leanroute import api_router
from gateway.v1 import PREFIX, Ok, ok, v1_refusals
from switchboard.messaging.v1 import messaging_pb2

router = api_router(prefix=PREFIX, tags=["instance api"], responses=v1_refusals())

MessageId = Annotated[str, Path(alias="messageId", min_length=1, max_length=40,
                                pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/messages/incoming", response_model=Ok[IncomingPage],
            response_model_by_alias=True)
async def incoming(caller: InstanceCaller, clients: ServiceClients,
                   page: Annotated[int, Query(ge=1, le=10**6)] = 1,
                   per_page: Annotated[int, Query(alias="perPage", ge=1, le=10**6)] = 10
                   ) -> dict[str, object]:
    """Messages that arrived on this instance's number, newest first, a page at a time
    (`perPage` at most 100). `mediaUrl` downloads a received file."""
    found = await clients.messaging.ListInbox(messaging_pb2.ListInboxRequest(
        user_id=caller.user_id, device_id=caller.instance_id, page=page,
        per_page=min(per_page, MAX_PER_PAGE)))
    return ok("Incoming messages retrieved successfully",
              {"messages": [instance_item(m) for m in found.messages],
               "pagination": pagination(found)})


@router.get("/messages/incoming/{messageId}/media", response_class=Response,
            responses={200: FILE,
                       **v1_refusals(404)})
async def incoming_media(message_id: MessageId, caller: InstanceCaller,
                         clients: ServiceClients, request: Request) -> Response:
    """A file that arrived on this instance: 404 NOT_FOUND for another instance's
    message, an unknown one, or one without media."""
    found = await clients.messaging.GetInboundMessage(messaging_pb2.GetInboundMessageRequest(
        user_id=caller.user_id, device_id=caller.instance_id, message_id=message_id))
    return await media_response(request, found)

"""Messaging API: the messages that arrived for the user (docs/api.md, "Inbound
messages"): GET /api/messages/inbox, newest first in the history's page shape, and
GET /api/messages/inbox/{message_id}/media, a received file (the owner's only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request, Response

from gateway.deps import CurrentUser, ServiceClients
from gateway.inbox import (
    FILE,
    MAX_PER_PAGE,
    InboxPage,
    media_response,
    messaging_item,
    pagination,
)
from gateway.leanroute import api_router
from gateway.routes.messaging_api.history import _moment
from gateway.shapes import refusals
from kernel.clock import to_timestamp
from switchboard.messaging.v1 import messaging_pb2

router = api_router(prefix="/api/messages", tags=["messages"], responses=refusals(401))

MessageId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/inbox", response_model=InboxPage, response_model_by_alias=True)
async def inbox(user: CurrentUser, clients: ServiceClients,
                page: Annotated[int, Query(ge=1, le=10**6)] = 1,
                per_page: Annotated[int, Query(ge=1, le=10**6)] = 10,
                number: Annotated[str | None, Query(max_length=128)] = None,
                since: Annotated[str | None, Query(max_length=40)] = None
                ) -> dict[str, object]:
    """Messages that arrived for the user (replies, messages from anyone to the user's
    instances, pool replies routed to the user), newest first, a page at a time
    (`per_page` at most 100); `number`: one sender or group; `since`: received at or
    after (ISO 8601). `media_url` downloads a received file."""
    found = await clients.messaging.ListInbox(messaging_pb2.ListInboxRequest(
        user_id=user.user_id, page=page, per_page=min(per_page, MAX_PER_PAGE),
        number=(number or "").strip(), since=to_timestamp(_moment("since", since))))
    return {"messages": [messaging_item(m) for m in found.messages],
            "pagination": pagination(found)}


@router.get("/inbox/{message_id}/media", response_class=Response,
            responses={200: FILE,
                       **refusals(404)})
async def inbox_media(message_id: MessageId, user: CurrentUser, clients: ServiceClients,
                      request: Request) -> Response:
    """A received message's file, as it arrived: 404 NOT_FOUND for another user's message,
    an unknown one, or one without media."""
    found = await clients.messaging.GetInboundMessage(messaging_pb2.GetInboundMessageRequest(
        user_id=user.user_id, message_id=message_id))
    return await media_response(request, found)

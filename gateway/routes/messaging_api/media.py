"""Messaging API: POST /api/messages/send-media, a media message (image, video, audio or
document, with a caption and a file name) through the shared pool, paid with one credit
like a text. The file is given by URL (JSON) or uploaded (multipart); see gateway/media.py."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from pydantic import Field

from gateway.clients import Clients
from gateway.deps import CurrentUser, Principal, ServiceClients
from gateway.idempotency import IdempotencyKey, once
from gateway.leanroute import api_router
from gateway.media import (
    MediaRequest,
    attachment,
    media_summary,
    openapi_body,
    read_media_request,
)
from gateway.routes.messaging_api.messages import queued_answer
from gateway.shapes import MessageQueued, refusals
from gateway.text import RequestBody
from switchboard.messaging.v1 import messaging_pb2

router = api_router(prefix="/api/messages", tags=["messages"],
                   responses=refusals(
                       401, "INSUFFICIENT_CREDITS", 404, "MEDIA_URL_REFUSED", "MEDIA_FETCH_FAILED",
                       "UNSUPPORTED_BY_TRANSPORT", "MEDIA_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE",
                       "INSTANCE_NOT_CONNECTED", "CONFLICT"))


class SendMediaBody(RequestBody):
    number: str = Field(max_length=64, examples=["27821234567"])
    media_url: str | None = Field(default=None, max_length=2048,
                                  examples=["https://example.com/invoice.pdf"])
    caption: str | None = Field(default=None, max_length=4096, examples=["Your invoice"])
    filename: str | None = Field(default=None, max_length=255, examples=["invoice.pdf"])


class MediaQueued(MessageQueued):
    media: dict[str, Any]


@router.post("/send-media", response_model=MediaQueued,
             openapi_extra=openapi_body(SendMediaBody, "caption", "number"))
async def send_media(user: CurrentUser, clients: ServiceClients, request: Request,
                     response: Response, idempotency_key: IdempotencyKey = None) -> Any:
    """Send an image, video, audio or document to `number` through the pool: by URL
    (JSON `{"number", "media_url", "caption", "filename"}`) or by upload (multipart: a
    `file` part, `number`, `caption`, `filename`). WhatsApp's limits per type apply
    (docs/api.md, "Sending media"): UNSUPPORTED_MEDIA_TYPE 415, MEDIA_TOO_LARGE 413,
    MEDIA_URL_REFUSED / MEDIA_FETCH_FAILED 400, nothing charged. One credit."""
    form = await read_media_request(request, SendMediaBody, "media_url")
    return await once(request, response, clients, f"u{user.user_id}", idempotency_key,
                      form.fingerprinted(),
                      lambda seed: _send_media(request, form, user, clients, seed))


async def _send_media(request: Request, form: MediaRequest[SendMediaBody], user: Principal,
                      clients: Clients, id_seed: str) -> dict[str, object]:
    body = form.fields
    media = await attachment(clients, request.app.state.media,
                             request.app.state.settings.media_max_bytes, user.user_id,
                             body.media_url, body.filename, form.upload)
    queued = await clients.messaging.SendMessage(messaging_pb2.SendMessageRequest(
        user_id=user.user_id, number=body.number, message=body.caption or "",
        id_seed=id_seed, media=media))
    return {**queued_answer(queued), "media": media_summary(media)}

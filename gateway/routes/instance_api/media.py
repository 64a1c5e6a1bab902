"""Instance API: POST /api/v1/whatsapp/send-media, a media message through the calling
instance's device, paid from its quota and answered like /send (it waits for the hand-over
to WhatsApp). The file is given by URL (JSON) or uploaded (multipart); see gateway/media.py."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from pydantic import ConfigDict, Field

from gateway.clients import Clients
from gateway.deps import InstanceCaller, InstancePrincipal, ServiceClients
from gateway.idempotency import IdempotencyKey, once
from gateway.leanroute import api_router
from gateway.media import (
    MediaRequest,
    attachment,
    media_summary,
    openapi_body,
    read_media_request,
)
from gateway.routes.instance_api.send import sent_answer
from gateway.text import RequestBody
from gateway.v1 import PREFIX, MessageSent, Ok, v1_refusals
from switchboard.messaging.v1 import messaging_pb2

router = api_router(prefix=PREFIX, tags=["instance api"],
                   responses=v1_refusals(
                       "QUOTA_EXCEEDED", "MEDIA_URL_REFUSED", "MEDIA_FETCH_FAILED",
                       "UNSUPPORTED_BY_TRANSPORT", "MEDIA_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE",
                       "INSTANCE_NOT_CONNECTED", "CONFLICT"))


class SendMediaBody(RequestBody):
    model_config = ConfigDict(populate_by_name=True)

    phone_number: str = Field(alias="phoneNumber", max_length=64, examples=["27821234567"])
    media_url: str | None = Field(default=None, alias="mediaUrl", max_length=2048,
                                  examples=["https://example.com/photo.jpg"])
    caption: str | None = Field(default=None, max_length=4096, examples=["Our new shop"])
    filename: str | None = Field(default=None, max_length=255, examples=["photo.jpg"])


class MediaSent(MessageSent):
    media: dict[str, Any]




@router.post("/send-media", response_model=Ok[MediaSent],
             openapi_extra=openapi_body(SendMediaBody, "caption", "phoneNumber"))
async def send_media(caller: InstanceCaller, clients: ServiceClients, request: Request,
                     response: Response, idempotency_key: IdempotencyKey = None) -> Any:
    """Send an image, video, audio or document through this instance: by URL (JSON
    `{"phoneNumber", "mediaUrl", "caption", "filename"}`) or by upload (multipart: a
    `file` part, `phoneNumber`, `caption`, `filename`). Answered like /send, after the
    hand-over to WhatsApp; WhatsApp's limits per type apply (docs/api.md, "Sending
    media"); a refusal charges no quota."""
    form = await read_media_request(request, SendMediaBody, "media_url")
    return await once(request, response, clients, f"i{caller.instance_id}", idempotency_key,
                      form.fingerprinted(),
                      lambda seed: _send_media(request, form, caller, clients, seed))


async def _send_media(request: Request, form: MediaRequest[SendMediaBody],
                      caller: InstancePrincipal, clients: Clients,
                      id_seed: str) -> dict[str, object]:
    body = form.fields
    media = await attachment(clients, request.app.state.media,
                             request.app.state.settings.media_max_bytes, caller.user_id,
                             body.media_url, body.filename, form.upload)
    sent = await clients.messaging.SendInstanceMessage(
        messaging_pb2.SendInstanceMessageRequest(
            instance_id=caller.instance_id, user_id=caller.user_id,
            number=body.phone_number, message=body.caption or "", id_seed=id_seed,
            media=media))
    answer = sent_answer(sent)
    answer["data"]["media"] = media_summary(media)
    return answer

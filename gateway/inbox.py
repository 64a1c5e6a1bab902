"""Received messages as both APIs show them (the inbox pages, the media downloads).

The items come from messaging's inbox view (`ListInbox`); a download asks messaging for
the message first (`GetInboundMessage`, the owner's only: another tenant's id is 404
NOT_FOUND, as an unknown one), then reads the bytes from the media store by hash."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel, Field

from gateway.errors import ApiError
from gateway.shapes import Pagination
from gateway.timefmt import iso_naive, iso_z
from kernel.media import MediaNotFoundError, MediaStore
from switchboard.messaging.v1 import messaging_pb2

MAX_PER_PAGE = 100
# the download routes' success, as the OpenAPI document shows it
FILE = {"description": "The file as it arrived, with its MIME type",
        "content": {"application/octet-stream": {"schema": {"type": "string",
                                                            "format": "binary"}}}}


class MediaDoc(BaseModel):
    mime_type: str
    size: int
    sha256: str
    filename: str | None


class Received(BaseModel):
    """Both APIs' fields beside the issue's ones."""

    from_: str = Field(alias="from", examples=["27821234567"])
    to: str = Field(examples=["15550000001"])
    type: str = Field(examples=["text"])
    message: str = Field(examples=["Yes, please deliver on Monday"])
    chat_id: str
    is_group: bool
    from_lid: str | None
    from_name: str | None
    quoted_message_id: str | None
    media: MediaDoc | None


class InboxItem(Received):
    message_id: str
    media_url: str | None
    received_at: str | None = Field(examples=["2025-06-03T10:30:00Z"])


class InboxPage(BaseModel):
    messages: list[InboxItem]
    pagination: Pagination


class IncomingItem(Received):
    messageId: str
    mediaUrl: str | None
    receivedAt: str | None = Field(examples=["2025-06-03T10:30:00"])


class IncomingPage(BaseModel):
    messages: list[IncomingItem]
    pagination: Pagination


def media_url(found: messaging_pb2.InboundMessage, prefix: str) -> str | None:
    return f"{prefix}/{found.message_id}/media" if found.media_sha256 else None


def extras(found: messaging_pb2.InboundMessage) -> dict[str, Any]:
    """What both APIs add beside the issue's fields (the same names in both)."""
    return {"chat_id": found.chat_id, "is_group": found.is_group,
            "from_lid": found.from_lid or None, "from_name": found.from_name or None,
            "quoted_message_id": found.quoted_message_id or None,
            "media": ({"mime_type": found.media_mime_type, "size": found.media_size_bytes,
                       "sha256": found.media_sha256,
                       "filename": found.media_filename or None}
                      if found.media_sha256 else None)}


def messaging_item(found: messaging_pb2.InboundMessage) -> dict[str, Any]:
    """Messaging API (snake_case, times with Z)."""
    return {"message_id": found.message_id, "from": found.from_phone, "to": found.to_phone,
            "type": found.type, "message": found.text,
            "media_url": media_url(found, "/api/messages/inbox"),
            "received_at": iso_z(found.received_at), **extras(found)}


def instance_item(found: messaging_pb2.InboundMessage) -> dict[str, Any]:
    """Instance API (camelCase, naive UTC times as its documents show them)."""
    return {"messageId": found.message_id, "from": found.from_phone, "to": found.to_phone,
            "type": found.type, "message": found.text,
            "mediaUrl": media_url(found, "/api/v1/whatsapp/messages/incoming"),
            "receivedAt": iso_naive(found.received_at), **extras(found)}


def pagination(found: messaging_pb2.ListInboxResponse) -> dict[str, int]:
    return {"page": found.page, "per_page": found.per_page, "total": found.total,
            "pages": found.pages}


def store_of(request: Request) -> MediaStore:
    """The gateway's media store, made with the app (gateway/app.py)."""
    return request.app.state.media  # type: ignore[no-any-return]


async def media_response(request: Request, found: messaging_pb2.InboundMessage) -> Response:
    """The message's file as it arrived, or 404 NOT_FOUND when it has none (or the store
    no longer keeps it: retention)."""
    if not found.media_sha256:
        raise ApiError("NOT_FOUND", "This message has no media")
    try:
        content = await store_of(request).get(found.media_sha256)
    except MediaNotFoundError as exc:
        raise ApiError("NOT_FOUND", "The media is no longer kept") from exc
    headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "sandbox; default-src 'none'",
               "Content-Disposition": _attachment(found.media_filename)}
    return Response(content, media_type=found.media_mime_type or "application/octet-stream",
                    headers=headers)


def _attachment(filename: str) -> str:
    """Always a download, never a page of the gateway's origin (a sender's HTML or SVG)."""
    safe = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_"
                   for c in filename)[:200]
    return f'attachment; filename="{safe}"' if safe else "attachment"

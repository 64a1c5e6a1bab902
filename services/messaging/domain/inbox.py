"""Messages that arrived for a user, as the inbox view keeps them, and what a webhook
or the live stream is told of one (`message.received`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel.errors import NotFoundError
from services.messaging.domain.errors import MessagingError

RECEIVED = "message.received"
RECEIVED_STATUS = "Received"  # a delivery row's status word for a received message
SENT_PREFIX = "sb-"  # the transport id the device gives a message Switchboard sent


class InboundNotFoundError(MessagingError, NotFoundError):
    def __init__(self, message_id: str) -> None:
        super().__init__(f"Message {message_id[:64]!r} not found")


@dataclass(frozen=True)
class InboundEntry:
    message_id: str
    user_id: int
    device_id: str
    transport_message_id: str
    from_phone: str
    to_phone: str
    chat_id: str
    type: str
    received_at: datetime
    sent_at: datetime | None = None
    from_lid: str = ""
    is_group: bool = False
    text: str = ""
    media_sha256: str = ""
    media_mime_type: str = ""
    media_size_bytes: int = 0
    media_filename: str = ""
    quoted_transport_message_id: str = ""
    latitude: float = 0.0
    longitude: float = 0.0
    vcard: str = ""
    from_name: str = ""  # the name the sender shows (WhatsApp's push name, Meta's profile)

    @property
    def quoted_message_id(self) -> str:
        """The queue id of the quoted message when Switchboard sent it, else its far
        side id (or "")."""
        return self.quoted_transport_message_id.removeprefix(SENT_PREFIX)

    @property
    def has_media(self) -> bool:
        return bool(self.media_sha256)


def media_path(message_id: str) -> str:
    """Where its owner downloads a received message's media (Messaging API)."""
    return f"/api/messages/inbox/{message_id}/media"


def _stamp(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment else None


def received_document(entry: InboundEntry) -> dict[str, Any]:
    """The webhook body's and the live stream's fields of a received message."""
    media = None if not entry.has_media else {
        "sha256": entry.media_sha256, "mime_type": entry.media_mime_type,
        "size": entry.media_size_bytes, "filename": entry.media_filename or None,
        "url": media_path(entry.message_id)}
    return {
        "event": RECEIVED, "message_id": entry.message_id, "from": entry.from_phone,
        "from_lid": entry.from_lid or None, "from_name": entry.from_name or None,
        "to": entry.to_phone, "chat_id": entry.chat_id,
        "is_group": entry.is_group, "type": entry.type, "message": entry.text,
        "media": media, "quoted_message_id": entry.quoted_message_id or None,
        "location": ({"latitude": entry.latitude, "longitude": entry.longitude}
                     if entry.type == "location" else None),
        "vcard": entry.vcard or None, "instance_id": entry.device_id,
        "sent_at": _stamp(entry.sent_at), "timestamp": _stamp(entry.received_at)}


def received_body(entry: InboundEntry) -> bytes:
    return json.dumps(received_document(entry), separators=(",", ":")).encode()

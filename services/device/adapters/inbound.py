"""What the real transports share to report a received message: what it says (`Content`,
read by each transport from its far side's shape) and the port's `Inbound` made of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.device.app.transport import Inbound, InboundMedia, InboundType


@dataclass(frozen=True)
class Content:
    type: InboundType
    text: str = ""  # the text, a caption, a place's name and address, a reaction's emoji
    quoted: str = ""  # the quoted message's id, or a reaction's target
    latitude: float = 0.0
    longitude: float = 0.0
    vcard: str = ""
    filename: str = ""
    mime_type: str = ""
    media_id: str = ""  # where the far side keeps the file, when it names it so


@dataclass(frozen=True)
class Origin:
    """Where a message came from: the device it arrived on, the far side's id, who sent
    it (number digits, LID or Meta's BSUID, display name) and in which chat, and when."""

    device_id: str
    message_id: str
    phone: str
    lid: str
    chat_id: str
    is_group: bool
    sent_at: datetime
    name: str = ""  # the sender's display name, as they set it


def inbound_of(origin: Origin, content: Content, media: InboundMedia | None) -> Inbound:
    return Inbound(device_id=origin.device_id, transport_message_id=origin.message_id,
                   from_phone=origin.phone, chat_id=origin.chat_id, type=content.type,
                   sent_at=origin.sent_at, text=content.text, from_lid=origin.lid,
                   is_group=origin.is_group, media=media, quoted=content.quoted,
                   latitude=content.latitude, longitude=content.longitude,
                   vcard=content.vcard, from_name=origin.name)

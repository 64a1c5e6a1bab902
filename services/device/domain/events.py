"""Past-tense facts of the device service. Field names match events.proto one for one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class DeviceRegistered:
    device_id: str
    name: str
    owner_user_id: int
    pooled: bool
    transport: str
    instance_number: int = 0
    created_at: datetime | None = None


@dataclass(frozen=True)
class QrIssued:
    device_id: str
    pairing_ref: str
    expires_at: datetime | None


@dataclass(frozen=True)
class DeviceConnected:
    device_id: str
    phone_number: str
    connected_at: datetime | None = None


@dataclass(frozen=True)
class DeviceDisconnected:
    """logged_out: the link is gone (a new QR is needed); else a network loss."""

    device_id: str
    reason: str
    logged_out: bool = False


@dataclass(frozen=True)
class DeviceReconnected:
    device_id: str
    connected_at: datetime | None = None


@dataclass(frozen=True)
class DeviceRetired:
    device_id: str
    reason: str


@dataclass(frozen=True)
class DeviceBanned:
    device_id: str
    reason: str


@dataclass(frozen=True)
class DeviceFailed:
    device_id: str
    reason: str


@dataclass(frozen=True)
class DeviceErrorRecorded:
    device_id: str
    reason: str
    at: datetime | None


@dataclass(frozen=True)
class MessageDispatched:
    message_id: str
    device_id: str
    transport_message_id: str
    user_id: int


@dataclass(frozen=True)
class MessageSent:
    message_id: str
    device_id: str
    transport_message_id: str
    sent_at: datetime | None
    user_id: int


@dataclass(frozen=True)
class MessageDelivered:
    message_id: str
    transport_message_id: str
    delivered_at: datetime | None
    user_id: int


@dataclass(frozen=True)
class MessageRead:
    message_id: str
    transport_message_id: str
    read_at: datetime | None
    user_id: int


@dataclass(frozen=True)
class MessageFailed:
    message_id: str
    reason: str
    user_id: int


@dataclass(frozen=True)
class SendAttemptFailed:
    """A transient failure: `attempt` is the count of failed attempts so far."""

    message_id: str
    device_id: str
    attempt: int
    reason: str
    user_id: int


@dataclass(frozen=True)
class MediaRef:
    """Received media as the media store keeps it, by the SHA-256 of its bytes."""

    sha256: str
    mime_type: str
    size_bytes: int
    filename: str = ""


@dataclass(frozen=True)
class MessageReceived:
    """A message arrived on a device (stream `inbound-<device_id>-<transport id>`,
    version 1 only), routed to `user_id`."""

    inbound_id: str
    device_id: str
    transport_message_id: str
    from_phone: str
    to_phone: str
    chat_id: str
    type: str
    user_id: int
    sent_at: datetime | None
    received_at: datetime | None
    from_lid: str = ""
    is_group: bool = False
    text: str = ""
    media: MediaRef | None = None
    quoted_transport_message_id: str = ""
    latitude: float = 0.0
    longitude: float = 0.0
    vcard: str = ""
    from_name: str = ""


DEVICE_EVENTS = (DeviceRegistered, QrIssued, DeviceConnected, DeviceDisconnected,
                 DeviceReconnected, DeviceBanned, DeviceFailed, DeviceRetired,
                 DeviceErrorRecorded)
DISPATCH_EVENTS = (MessageDispatched, MessageSent, MessageDelivered, MessageRead,
                   MessageFailed, SendAttemptFailed)

"""The one port every transport (simulator, whatsmeow, cloud) implements.

Commands go in as calls; what the far side does on its own (a phone scanned the QR,
the session dropped or came back, the number was banned, a receipt arrived) comes back
as TransportEvents through the sink the app attaches. The simulator is the reference
implementation.

Sessions: `resume` takes a linked device's session up in this process (after a start,
a lease take-over, or as one reconnect attempt); `release` puts it down without logging
out (another replica may resume it); `logout` ends the link at the far side for good.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from kernel.media import MediaNotFoundError, MediaStore, MediaStoreError
from services.device.domain.commands import MediaFile


async def stored_media(store: MediaStore | None, media: MediaFile) -> bytes:
    """A media send's file, read from the media store: TransportError (for good) when it
    is no longer there, TransientTransportError while the store cannot be reached."""
    if store is None:
        raise TransportError("this transport was built without a media store")
    try:
        return await store.get(media.sha256)
    except MediaNotFoundError as exc:
        raise TransportError("the media file is no longer in the media store") from exc
    except MediaStoreError as exc:
        raise TransientTransportError(f"the media store is unavailable: {exc}") from exc


def digits(number: str) -> str:
    """A recipient's number as every far side addresses it: its digits alone (the gateway
    passes E.164 with or without `+` and spacing)."""
    return "".join(ch for ch in number if ch.isdigit())


class TransportError(Exception):
    """The far side refused or failed a send; the reason is shown to the sender."""


class TransientTransportError(TransportError):
    """The far side could not take the message now (an outage, no answer in time, the
    connection cut mid-send, a rate limit); it may pass. The dispatcher tries again after
    its backoff, or after `retry_after` seconds when the far side asked for a longer wait,
    with the same transport message id, and fails the message after its last attempt."""

    def __init__(self, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class SessionDownError(TransportError):
    """The device's session is not up here: nothing was sent. The message is handed back
    to the queue (another device, or this one once it is back), never failed for it."""


@dataclass(frozen=True)
class Pairing:
    pairing_ref: str
    expires_at: datetime


@dataclass(frozen=True)
class Sent:
    transport_message_id: str
    at: datetime


@dataclass(frozen=True)
class Linked:
    """A phone linked the device. `pairing_ref` is the scanned QR's text; empty when the
    transport itself vouches for the link (a pairing code, or a QR it rotated itself)."""

    device_id: str
    pairing_ref: str
    phone_number: str


@dataclass(frozen=True)
class Unlinked:
    """The session ended. `logged_out`: the link is gone (logout on the phone or here) and
    only a new QR brings it back; otherwise a network loss, and the app reconnects."""

    device_id: str
    reason: str
    logged_out: bool = False


@dataclass(frozen=True)
class Reconnected:
    """The transport took a dropped session up again on its own."""

    device_id: str


@dataclass(frozen=True)
class Banned:
    device_id: str
    reason: str


@dataclass(frozen=True)
class SessionFailed:
    """The session broke beyond a reconnect (client outdated, stream replaced, …)."""

    device_id: str
    reason: str


@dataclass(frozen=True)
class Trouble:
    """The far side could not be reached, or would not take the session up (a reconnect
    attempt that failed, and why): noted as the device's last error, nothing else."""

    device_id: str
    reason: str


class ReceiptKind(StrEnum):
    DELIVERED = "delivered"
    READ = "read"


@dataclass(frozen=True)
class Receipt:
    device_id: str
    transport_message_id: str
    kind: ReceiptKind
    at: datetime


@dataclass(frozen=True)
class Undelivered:
    """The far side took the message, then failed it (a Cloud API `failed` status): the
    message ends Failed with the far side's reason, and its charge is refunded."""

    device_id: str
    transport_message_id: str
    reason: str


class InboundType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    DOCUMENT = "document"
    AUDIO = "audio"
    VIDEO = "video"
    LOCATION = "location"
    CONTACT = "contact"
    REACTION = "reaction"


@dataclass(frozen=True)
class InboundMedia:
    """A received file's bytes as the far side gave them (downloaded by the adapter)."""

    content: bytes
    mime_type: str
    filename: str = ""


@dataclass(frozen=True)
class Inbound:
    """A message arrived on a linked device. `transport_message_id` is the far side's id,
    unique per device: a redelivery carries the same one. `from_lid` is the sender's LID
    where WhatsApp gives one; `chat_id` is the sender's number in a direct chat, the
    group's id in a group. `text` is the text, a caption, or a reaction's emoji; `quoted`
    the far side's id of the message this one quotes, or a reaction's target."""

    device_id: str
    transport_message_id: str
    from_phone: str
    chat_id: str
    type: InboundType
    sent_at: datetime
    text: str = ""
    from_lid: str = ""
    is_group: bool = False
    media: InboundMedia | None = None
    quoted: str = ""
    latitude: float = 0.0
    longitude: float = 0.0
    vcard: str = ""
    from_name: str = ""  # the sender's own display name (push name, Meta's profile name)


TransportEvent = (Linked | Unlinked | Reconnected | Banned | SessionFailed | Trouble | Receipt
                  | Undelivered | Inbound)
TransportSink = Callable[[TransportEvent], Awaitable[None]]


class Transport(Protocol):
    name: str

    def attach(self, sink: TransportSink) -> None: ...

    async def start_pairing(self, device_id: str) -> Pairing:
        """A fresh QR for the device; the one issued before it stops working."""
        ...

    async def resume(self, device_id: str, phone_number: str) -> bool:
        """Take a linked device's session up in this process; False if it cannot now
        (reporting why as a Trouble when the far side said)."""
        ...

    async def release(self, device_id: str) -> None:
        """Put this process's session down without logging out (idempotent)."""
        ...

    async def logout(self, device_id: str) -> None:
        """End the link at the far side (idempotent); no event is needed for it."""
        ...

    async def send(self, device_id: str, to: str, body: str,
                   transport_message_id: str) -> Sent:
        """Raises SessionDownError when the session is not up, TransientTransportError
        when the far side could not take the message now, TransportError when it refused
        the message for good."""
        ...

    async def send_media(self, device_id: str, to: str, media: MediaFile, caption: str,
                         transport_message_id: str) -> Sent:
        """A media message: the file read from the media store by its hash, sent the
        transport's own way, with its caption (and a document's file name); as `send`."""
        ...

    async def request_pairing_code(self, device_id: str, phone_number: str) -> Pairing:
        """A code the phone `phone_number` types to link the device (WhatsApp's "link
        with phone number"), and its expiry; UnsupportedByTransportError where there is
        no such thing (the cloud)."""
        ...

    async def send_template(self, device_id: str, to: str, template: Mapping[str, object],
                            transport_message_id: str) -> Sent:
        """A Meta template (`template`: Meta's object, name, language, components); as
        `send`, and TransportError on a transport that has no templates."""
        ...

    async def on_whatsapp(self, device_id: str,
                          numbers: Sequence[str]) -> dict[str, bool | None]:
        """Whether each number (digits) has WhatsApp, asked through the device's session:
        True, False, or None when the far side cannot say."""
        ...

    async def close(self) -> None: ...

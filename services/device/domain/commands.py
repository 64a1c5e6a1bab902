"""What callers ask the device service to do (imperative; handlers carry them out)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RegisterDevice:
    device_id: str
    name: str
    owner_user_id: int
    pooled: bool = False
    instance_number: int = 0
    created_at: datetime | None = None


@dataclass(frozen=True)
class GetDevice:
    device_id: str


@dataclass(frozen=True)
class RequestQr:
    """The device's QR: the current one while it is fresh enough, else a new one."""

    device_id: str


@dataclass(frozen=True)
class RetireDevice:
    """The instance was deleted: its session is logged out and the device closed."""

    device_id: str
    reason: str


@dataclass(frozen=True)
class ListDevices:
    owner_user_id: int | None = None  # None: every owner's
    pooled_only: bool = False


@dataclass(frozen=True)
class GetPoolStatus:
    """The pool of the transport in use: its devices and the queue waiting for them."""


@dataclass(frozen=True)
class LogoutDevice:
    """The owner logs the device out: its session ends and a new QR is needed."""

    device_id: str


@dataclass(frozen=True)
class RestartDevice:
    """The owner restarts the device's session from its kept link."""

    device_id: str


@dataclass(frozen=True)
class SimulateScan:
    """A simulated phone scans a QR (the simulator only)."""

    pairing_ref: str
    phone_number: str


@dataclass(frozen=True)
class RequestPairingCode:
    """A code the phone of `phone_number` types to link the device (instead of a QR)."""

    device_id: str
    phone_number: str


@dataclass(frozen=True)
class SimulatePairingCode:
    """A simulated phone types a pairing code (the simulator only)."""

    code: str
    phone_number: str


@dataclass(frozen=True)
class CheckNumbers:
    """Whether each number is on WhatsApp, asked through a live device (`device_id`, or
    any pool device this replica holds when empty)."""

    numbers: tuple[str, ...]
    device_id: str = ""


@dataclass(frozen=True)
class SimulateInbound:
    """A simulated phone sends a message to a linked device's number (the simulator
    only): a reply when it quotes one, in a group when `group_id` is set; `message_id` is
    the phone's own id for it (a retry with the same id is one message)."""

    from_phone: str
    to_phone: str
    text: str = ""
    media: bytes | None = None
    mime_type: str = ""
    filename: str = ""
    quoted: str = ""
    group_id: str = ""
    message_id: str = ""


@dataclass(frozen=True)
class SimulatePhoneEvent:
    """The simulated phone's side of a device: `kind` is drop, logout or ban."""

    device_id: str
    kind: str
    reason: str = ""  # empty: the kind's own words
    outage_seconds: float = 0.0  # drop only: how long the network stays down


@dataclass(frozen=True)
class GetSimulatorInbox:
    phone_number: str


@dataclass(frozen=True)
class MediaFile:
    """A media message's file, kept in the media store (kernel/media.py) under its SHA-256;
    the message's body is its caption. `kind`: image, video, audio or document."""

    sha256: str
    mime_type: str
    size_bytes: int
    filename: str
    kind: str


@dataclass(frozen=True)
class DispatchMessage:
    """Send one queued message: through the pool, or pinned to one instance."""

    message_id: str
    user_id: int
    number: str
    body: str
    channel: str
    instance_id: str = ""
    queued_at: datetime | None = None  # when messaging queued it: the expiry counts from it
    # JetStream's first delivery of it: no replica can have claimed it yet, so the claim
    # starts from an empty stream without reading it (a copy published twice is caught by
    # the claim's expected version 0, and read then)
    first_delivery: bool = False
    media: MediaFile | None = None  # a media message's file; `body` is its caption
    whatsapp_template: str = ""  # a Meta template (JSON of Meta's object), sent as such

    @property
    def pinned(self) -> bool:
        return self.channel == "instance"

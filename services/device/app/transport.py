"""The one port every transport (simulator, whatsmeow, cloud) implements.

Commands go in as calls; what the far side does on its own (a phone scanned the QR,
the session dropped, the number was banned, a receipt arrived) comes back as
TransportEvents through the sink the app attaches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class TransportError(Exception):
    """The far side refused or failed a send; the reason is shown to the sender."""


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
    device_id: str
    pairing_ref: str
    phone_number: str


@dataclass(frozen=True)
class Unlinked:
    device_id: str
    reason: str


@dataclass(frozen=True)
class Banned:
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


TransportEvent = Linked | Unlinked | Banned | Receipt
TransportSink = Callable[[TransportEvent], Awaitable[None]]


class Transport(Protocol):
    name: str

    def attach(self, sink: TransportSink) -> None: ...

    async def start_pairing(self, device_id: str) -> Pairing: ...

    async def resume(self, device_id: str, phone_number: str) -> bool:
        """Re-establish a linked device's session after a restart; False if it is gone."""
        ...

    async def send(self, device_id: str, to: str, body: str,
                   transport_message_id: str) -> Sent: ...

    async def close(self) -> None: ...

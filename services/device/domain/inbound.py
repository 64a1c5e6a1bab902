"""A received message's one record: stream `inbound-<device_id>-<transport message id>`.

Version 1 is its `MessageReceived`; the far side's id is the dedup key, so a message the
transport reports again (a redelivery after a crash, a webhook Meta sends twice) finds
the stream taken and records nothing."""

from __future__ import annotations

import hashlib

from kernel.aggregate import Aggregate
from services.device.domain.events import MessageReceived

MAX_KEY = 180  # stream ids hold 200 characters, "inbound-" included


def inbound_key(device_id: str, transport_message_id: str) -> str:
    """`<device_id>-<transport id>`, the id hashed when the two would not fit."""
    key = f"{device_id}-{transport_message_id}"
    if len(key) <= MAX_KEY:
        return key
    return f"{device_id[:100]}-h{hashlib.sha256(transport_message_id.encode()).hexdigest()}"


class ReceivedMessage(Aggregate):
    stream_prefix = "inbound"

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.inbound_id = ""

    @property
    def recorded(self) -> bool:
        return bool(self.inbound_id)

    def receive(self, event: MessageReceived) -> None:
        """Recorded once: a second report of the same message changes nothing."""
        if not self.recorded:
            self._record(event)

    def when_MessageReceived(self, e: MessageReceived) -> None:
        self.inbound_id = e.inbound_id

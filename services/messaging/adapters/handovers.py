"""Waiting for a message to be handed to WhatsApp, for the Instance API's send, which
answers "sent" with the real time once the device service has recorded the message's
MessageSent (or its MessageFailed).

The device's outbox relay publishes those events on `sb.device.MessageSent` and
`sb.device.MessageFailed`; this process listens to both with core NATS subscriptions
(no JetStream consumer, no database read), held only while some send waits here, and
hands each event to the send waiting for its message: one dict look-up per event, so
waiting sends cost other tenants nothing but that look-up. A send starts expecting its
message before the message is queued, so a fast device cannot outrun it.
"""

from __future__ import annotations

import asyncio

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from kernel.bus import subject
from services.messaging.adapters.held_subscription import HeldSubscription
from services.messaging.adapters.history_projection import live_fact
from services.messaging.domain.lifecycle import HistoryEntry

SUBJECTS = [subject("device", "MessageSent"), subject("device", "MessageFailed")]


class Handovers:
    def __init__(self, nc: NATS) -> None:
        self._waiting: dict[str, asyncio.Future[HistoryEntry]] = {}
        self._held = HeldSubscription(nc, SUBJECTS, self._on_msg)

    async def expect(self, message_id: str) -> asyncio.Future[HistoryEntry]:
        """A future of the message's MessageSent or MessageFailed, as the history
        projection reads it; listening when this returns. Pair it with `forget`."""
        future = asyncio.get_running_loop().create_future()
        await self._held.hold()
        self._waiting[message_id] = future
        return future

    async def forget(self, message_id: str) -> None:
        self._waiting.pop(message_id, None)
        await self._held.release()

    async def _on_msg(self, msg: Msg) -> None:
        item = live_fact(msg) if self._waiting else None
        future = self._waiting.get(item[1].queue_id) if item else None
        if item is not None and future is not None and not future.done():
            future.set_result(item[1])

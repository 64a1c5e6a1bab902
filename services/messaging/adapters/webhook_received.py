"""The webhook fan-out of received messages: a durable consumer of the device's
MessageReceived which, in the transaction that records the event id, writes one
`message.received` delivery row per active webhook of the user the message was routed
to, into the same outbox the status deliveries use (signed, retried, logged alike).
A received message has one event, so its rows wait behind nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.bus import Envelope
from kernel.subscriptions import EventSubscription
from services.messaging.adapters.inbox_projection import RECEIVED_EVENT, received_fact
from services.messaging.adapters.webhook_fanout import fan_out_batch
from services.messaging.adapters.webhook_tables import webhook_deliveries
from services.messaging.domain.inbox import RECEIVED_STATUS, InboundEntry, received_body


async def fan_out_received(envelope: Envelope, entry: InboundEntry, hooks: list[str],
                           conn: AsyncConnection) -> None:
    if not hooks:
        return
    now, body = datetime.now(UTC), received_body(entry)
    await conn.execute(webhook_deliveries.insert(), [
        {"webhook_id": hook, "event_id": envelope.event_id, "queue_id": entry.message_id,
         "status": RECEIVED_STATUS, "rank": 0, "body": body, "state": "pending",
         "attempts": 0, "next_attempt_at": now, "created_at": now}
        for hook in hooks])


def received_subscription(engine: AsyncEngine, name: str,
                          written: Callable[[], None] = lambda: None) -> EventSubscription:
    """Durable `<name>-received`; `written` is told after each batch that wrote."""

    async def handler(batch: Sequence[Envelope]) -> None:
        entries = {e.event_id: received_fact(e) for e in batch}

        async def one(envelope: Envelope, hooks: list[str], conn: AsyncConnection) -> None:
            await fan_out_received(envelope, entries[envelope.event_id], hooks, conn)

        owners = {i: e.user_id for i, e in entries.items()}
        if await fan_out_batch(engine, f"{name}-received", batch, owners, one):
            written()

    return EventSubscription("device", (RECEIVED_EVENT,), f"{name}-received", handler)

"""The history projection: MessageQueued (messaging) and the device's delivery events,
folded into the history view (and a bulk request's messages into the bulk jobs view,
adapters/bulk_jobs.py). Every event becomes a partial `HistoryEntry`; the view
row is their merge, so order and duplicates do not matter."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message as ProtoMessage
from nats.aio.msg import Msg
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.bus import Envelope
from services.messaging.adapters.bulk_jobs import add_members, queued_members
from services.messaging.adapters.codec import messaging_codec
from services.messaging.adapters.history_view import merge_entries, merge_entry, view_metadata
from services.messaging.domain.lifecycle import HistoryEntry, Status, queued_entry
from switchboard.device.v1 import events_pb2 as device_events

log = logging.getLogger(__name__)

HISTORY = "history"
CODEC = messaging_codec()

# Device event type -> (protobuf class, status it means, field with the transport's time).
DEVICE_EVENTS: dict[str, tuple[type[ProtoMessage], Status, str]] = {
    "MessageDispatched": (device_events.MessageDispatched, Status.SENDING, ""),
    "MessageSent": (device_events.MessageSent, Status.SENT, "sent_at"),
    "MessageDelivered": (device_events.MessageDelivered, Status.DELIVERED, "delivered_at"),
    "MessageRead": (device_events.MessageRead, Status.READ, "read_at"),
    "MessageFailed": (device_events.MessageFailed, Status.FAILED, ""),
}


def _time(msg: ProtoMessage, field: str, envelope: Envelope) -> datetime:
    """When it happened: the event's own timestamp if it has one, else when recorded."""
    if field and msg.HasField(field):
        stamp: datetime = getattr(msg, field).ToDatetime(tzinfo=UTC)
        return stamp
    return envelope.recorded_at.astimezone(UTC)


def queued_fact(envelope: Envelope) -> HistoryEntry:
    event = CODEC.decode_payload(envelope.event_type, envelope.payload)
    if event.queued_at is None:
        event = replace(event, queued_at=envelope.recorded_at.astimezone(UTC))
    return queued_entry(event)


def device_fact(envelope: Envelope) -> HistoryEntry:
    pb_cls, status, time_field = DEVICE_EVENTS[envelope.event_type]
    event: Any = pb_cls.FromString(envelope.payload)
    reason = event.reason if status is Status.FAILED else None
    return HistoryEntry(queue_id=event.message_id, status=status,
                        updated_at=_time(event, time_field, envelope),
                        user_id=event.user_id, error_message=reason)


FACTS: dict[str, Callable[[Envelope], HistoryEntry]] = {
    "messaging": queued_fact,
    "device": device_fact,
}


def live_fact(msg: Msg) -> tuple[str, HistoryEntry] | None:
    """An event received on a core NATS subscription (the live status streams, a send
    waiting for its message), as its id and fact; None if it cannot be read."""
    try:
        # A core subscriber sees the publisher's ack inbox as reply, not a JetStream one.
        envelope = Envelope.from_msg(replace(msg, reply=""))
        return envelope.event_id, FACTS[envelope.service](envelope)
    except Exception:
        log.warning("undecodable message on %s", msg.subject)
        return None


class HistoryProjection:
    """`name` is also the durable consumer prefix; tests pass their own to stay apart."""

    view: MetaData = view_metadata

    def __init__(self, name: str = HISTORY) -> None:
        self.name = name
        self.sources: dict[str, Sequence[str]] = {
            "messaging": ["MessageQueued"],
            "device": list(DEVICE_EVENTS),
        }

    async def apply(self, event: Envelope, conn: AsyncConnection) -> None:
        fact = _fact(event)
        if fact is not None:
            await merge_entry(conn, fact)
            await add_members(conn, queued_members([event]))

    async def apply_batch(self, events: Sequence[Envelope], conn: AsyncConnection) -> None:
        """The same as `apply` for each event in turn, folded into one write per message."""
        await merge_entries(conn, [f for e in events if (f := _fact(e)) is not None])
        await add_members(conn, queued_members(events))


def _fact(event: Envelope) -> HistoryEntry | None:
    fact = FACTS[event.service](event)
    if not fact.queue_id:
        log.warning("history: %s %s names no message; skipped", event.event_type,
                    event.event_id)
        return None
    return fact

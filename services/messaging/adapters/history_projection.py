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
from kernel.clock import from_timestamp
from services.messaging.adapters.bulk_jobs import Member, add_members
from services.messaging.adapters.history_view import merge_entries, view_metadata
from services.messaging.domain.lifecycle import HistoryEntry, Status
from switchboard.device.v1 import events_pb2 as device_events
from switchboard.messaging.v1 import events_pb2 as messaging_events

log = logging.getLogger(__name__)

HISTORY = "history"

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
        return from_timestamp(getattr(msg, field))
    return envelope.recorded_at.astimezone(UTC)


def queued_fact(envelope: Envelope) -> HistoryEntry:
    return _queued(messaging_events.MessageQueued.FromString(envelope.payload), envelope)


def _queued(event: Any, envelope: Envelope) -> HistoryEntry:
    """`lifecycle.queued_entry` of the event, read off its protobuf: the message, queued at
    `queued_at` (else when recorded)."""
    at = _time(event, "queued_at", envelope)
    # By position: a keyword call costs a quarter more, for each event of a replay.
    return HistoryEntry(event.message_id, Status.QUEUED, at, event.user_id, event.number,
                        event.body, None, at)


def device_fact(envelope: Envelope) -> HistoryEntry:
    pb_cls, status, time_field = DEVICE_EVENTS[envelope.event_type]
    event: Any = pb_cls.FromString(envelope.payload)
    reason = event.reason if status is Status.FAILED else None
    return HistoryEntry(event.message_id, status, _time(event, time_field, envelope),
                        event.user_id, None, None, reason)


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
    # A row is the join of its message's facts (HistoryEntry.merge, written as the
    # upsert's CASEs) and a job's members are inserted once: an event applied again, or
    # late, changes nothing, so the live consumers keep no record of what they applied
    # (kernel/projection.py).
    idempotent = True
    # MessageQueued's fact is merged into the view (and a bulk request's members into its
    # job) by the append that records it (adapters/messages.py): a rebuild replays it,
    # nothing consumes it live.
    folded_by_writer = ("messaging",)

    def __init__(self, name: str = HISTORY) -> None:
        self.name = name
        self.sources: dict[str, Sequence[str]] = {
            "messaging": ["MessageQueued"],
            "device": list(DEVICE_EVENTS),
        }

    async def apply(self, event: Envelope, conn: AsyncConnection) -> None:
        await self.apply_batch([event], conn)

    async def apply_batch(self, events: Sequence[Envelope], conn: AsyncConnection) -> None:
        """Every event's fact, folded into one write per message; a bulk request's
        messages recorded in its job."""
        facts, members = read_batch(events)
        await merge_entries(conn, facts)
        await add_members(conn, members)


def read_batch(events: Sequence[Envelope]) -> tuple[list[HistoryEntry], list[Member]]:
    """The events' facts, and the bulk jobs their MessageQueued name (each decoded once)."""
    facts, members = [], []
    for envelope in events:
        if envelope.service == "messaging":
            queued = messaging_events.MessageQueued.FromString(envelope.payload)
            fact = _queued(queued, envelope)
            if queued.bulk_job_id:
                members.append((queued.message_id, queued.bulk_job_id, queued.user_id))
        else:
            fact = device_fact(envelope)
        if fact.queue_id:
            facts.append(fact)
        else:
            log.warning("history: %s %s names no message; skipped", envelope.event_type,
                        envelope.event_id)
    return facts, members

"""The inbox projection: the device's MessageReceived, one inbox row each. Rows are the
events' own fields, so order and duplicates do not matter and a rebuild equals the live
view (`switchboard projections rebuild inbox`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC

from nats.aio.msg import Msg
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.bus import Envelope
from kernel.clock import from_timestamp
from services.messaging.adapters.inbox_view import inbox_metadata, insert_entries
from services.messaging.domain.inbox import InboundEntry
from switchboard.device.v1 import events_pb2 as device_events

log = logging.getLogger(__name__)

INBOX = "inbox"
RECEIVED_EVENT = "MessageReceived"


def inbound_entry(payload: bytes, envelope: Envelope | None = None) -> InboundEntry:
    """A MessageReceived payload as an inbox entry (received when recorded, if the event
    does not say)."""
    e = device_events.MessageReceived.FromString(payload)
    received_at = (from_timestamp(e.received_at) if e.HasField("received_at") else
                   envelope.recorded_at.astimezone(UTC) if envelope else None)
    assert received_at is not None
    media = e.media if e.HasField("media") else device_events.MediaRef()
    return InboundEntry(
        message_id=e.inbound_id, user_id=e.user_id, device_id=e.device_id,
        transport_message_id=e.transport_message_id, from_phone=e.from_phone,
        to_phone=e.to_phone, chat_id=e.chat_id, type=e.type, received_at=received_at,
        sent_at=from_timestamp(e.sent_at) if e.HasField("sent_at") else None,
        from_lid=e.from_lid, is_group=e.is_group, text=e.text, media_sha256=media.sha256,
        media_mime_type=media.mime_type, media_size_bytes=media.size_bytes,
        media_filename=media.filename,
        quoted_transport_message_id=e.quoted_transport_message_id, latitude=e.latitude,
        longitude=e.longitude, vcard=e.vcard, from_name=e.from_name)


def received_fact(envelope: Envelope) -> InboundEntry:
    return inbound_entry(envelope.payload, envelope)


def live_received(msg: Msg) -> tuple[str, InboundEntry] | None:
    """A MessageReceived on a core NATS subscription (the live streams), as its event id
    and entry; None if it cannot be read."""
    try:
        envelope = Envelope.from_msg(replace(msg, reply=""))
        return envelope.event_id, received_fact(envelope)
    except Exception:
        log.warning("undecodable message on %s", msg.subject)
        return None


class InboxProjection:
    """`name` is also the durable consumer prefix; tests pass their own to stay apart."""

    view: MetaData = inbox_metadata

    def __init__(self, name: str = INBOX) -> None:
        self.name = name
        self.sources: dict[str, Sequence[str]] = {"device": [RECEIVED_EVENT]}

    async def apply(self, event: Envelope, conn: AsyncConnection) -> None:
        await insert_entries(conn, [received_fact(event)])

    async def apply_batch(self, events: Sequence[Envelope], conn: AsyncConnection) -> None:
        await insert_entries(conn, [received_fact(e) for e in events])

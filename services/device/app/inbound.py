"""A message that arrived on a linked device: routed to its user and recorded once.

Routing (docs/api.md, "Inbound messages"): an instance's messages belong to the
instance's owner. On a shared pool device a message belongs to the user who last sent to
its chat through that device within `affinity_window` seconds (conversation affinity),
else to the pool's owner (the device's owner, `SWITCHBOARD_POOL_OWNER_USER_ID` for the
simulator's pool). Received media is put in the media store first and the event carries
its reference; the store keeps it by hash, so a redelivered message stores nothing new.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from kernel.changes import Repo
from kernel.clock import Clock
from kernel.eventstore import ConcurrencyError
from kernel.media import MediaStore
from services.device.app.transport import Inbound, InboundMedia, digits
from services.device.domain.events import MediaRef, MessageReceived
from services.device.domain.inbound import ReceivedMessage, inbound_key
from services.device.domain.model import Device


class Devices(Protocol):
    async def get(self, device_id: str, *, trust_cache: bool = False) -> Device: ...


class LastSenders(Protocol):
    async def last_sender(self, device_id: str, number: str,
                          since: datetime) -> int | None: ...


@dataclass(frozen=True)
class InboundDeps:
    received: Repo[ReceivedMessage]
    devices: Devices
    affinity: LastSenders
    media: MediaStore
    clock: Clock
    affinity_window: float = 86_400.0


def new_inbound_id() -> str:
    return "in_" + secrets.token_hex(12)


async def receive_inbound(event: Inbound, deps: InboundDeps) -> str:
    """Records the message once; returns its inbound id (the first record's, for a
    message reported again)."""
    received = await deps.received.get(inbound_key(event.device_id,
                                                   event.transport_message_id))
    if received.recorded:
        return received.inbound_id
    device = await deps.devices.get(event.device_id, trust_cache=True)
    user_id = await route(event, device, deps)
    media = await _stored(event.media, deps.media)
    received.receive(received_event(event, device.phone_number, user_id, media,
                                    deps.clock()))
    try:
        await deps.received.save(received)
    except ConcurrencyError:  # reported twice at once: the other report recorded it
        return (await deps.received.get(received.id)).inbound_id
    return received.inbound_id


async def route(event: Inbound, device: Device, deps: InboundDeps) -> int:
    """The user the message belongs to."""
    if not device.pooled:
        return device.owner_user_id
    since = deps.clock() - timedelta(seconds=deps.affinity_window)
    last = await deps.affinity.last_sender(event.device_id, digits(event.chat_id), since)
    return device.owner_user_id if last is None else last


async def _stored(media: InboundMedia | None, store: MediaStore) -> MediaRef | None:
    if media is None:
        return None
    ref = await store.put(media.content, media.mime_type)
    return MediaRef(ref.sha256, ref.mime_type, ref.size, media.filename)


def received_event(event: Inbound, to_phone: str, user_id: int, media: MediaRef | None,
                   now: datetime) -> MessageReceived:
    return MessageReceived(
        inbound_id=new_inbound_id(), device_id=event.device_id,
        transport_message_id=event.transport_message_id, from_phone=event.from_phone,
        to_phone=to_phone, chat_id=event.chat_id, type=str(event.type), user_id=user_id,
        sent_at=event.sent_at, received_at=now, from_lid=event.from_lid,
        is_group=event.is_group, text=event.text, media=media,
        quoted_transport_message_id=event.quoted, latitude=event.latitude,
        longitude=event.longitude, vcard=event.vcard, from_name=event.from_name)

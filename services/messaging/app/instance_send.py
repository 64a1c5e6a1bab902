"""The Instance API send: one message pinned to the caller's instance, paid from its quota."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from services.messaging.app.charging import charge_and_queue
from services.messaging.app.dependencies import QUOTA, Charge, MessagingDeps, QuotaUsage
from services.messaging.domain.errors import InstanceNotConnectedError
from services.messaging.domain.lifecycle import Status
from services.messaging.domain.model import Message, message_ids

INSTANCE = "instance"


@dataclass(frozen=True)
class SendInstanceMessage:
    instance_id: str
    user_id: int
    number: str
    message: str
    id_seed: str = ""  # see model.message_ids


@dataclass(frozen=True)
class InstanceMessageAccepted:
    message_id: str
    status: Status
    number: str
    body: str
    queued_at: datetime
    quota: QuotaUsage


async def send_instance_message(cmd: SendInstanceMessage,
                                deps: MessagingDeps) -> InstanceMessageAccepted:
    """Validate, check the instance is linked, reserve quota, queue; release on failure."""
    message = Message(message_ids(cmd.id_seed, deps.new_id)())
    now = deps.clock()
    message.queue(cmd.user_id, cmd.number, cmd.message, now, channel=INSTANCE,
                  instance_id=cmd.instance_id)
    if not await deps.devices.connected(cmd.instance_id):
        raise InstanceNotConnectedError(cmd.instance_id)
    usage = await asyncio.shield(charge_and_queue(
        deps.reservations, Charge(QUOTA, cmd.instance_id, [message.id]),
        reserve=lambda: deps.quota.reserve(cmd.instance_id, message.user_id, [message.id]),
        queue=lambda: deps.messages.add(message), seeded=bool(cmd.id_seed)))
    return InstanceMessageAccepted(message.id, Status.QUEUED, message.number, message.body,
                                   now, usage)

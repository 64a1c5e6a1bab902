"""The Instance API send: one message pinned to the caller's instance, paid from its quota."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from kernel.clock import utcnow
from kernel.eventstore import ConcurrencyError
from services.messaging.app.dependencies import InstanceDevices, Messages, Quota, QuotaUsage
from services.messaging.domain.errors import (
    DependencyUnavailableError,
    InstanceNotConnectedError,
)
from services.messaging.domain.lifecycle import Status
from services.messaging.domain.model import Message, message_ids, new_message_id

log = logging.getLogger(__name__)

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


async def send_instance_message(cmd: SendInstanceMessage, messages: Messages, quota: Quota,
                                devices: InstanceDevices,
                                new_id: Callable[[], str] = new_message_id,
                                clock: Callable[[], datetime] = utcnow
                                ) -> InstanceMessageAccepted:
    """Validate, check the instance is linked, reserve quota, queue; release on failure."""
    message = Message(message_ids(cmd.id_seed, new_id)())
    now = clock()
    message.queue(cmd.user_id, cmd.number, cmd.message, now, channel=INSTANCE,
                  instance_id=cmd.instance_id)
    if not await devices.connected(cmd.instance_id):
        raise InstanceNotConnectedError(cmd.instance_id)
    usage = await asyncio.shield(_reserve_and_queue(cmd.instance_id, message, messages,
                                                    quota, bool(cmd.id_seed)))
    return InstanceMessageAccepted(message.id, Status.QUEUED, message.number, message.body,
                                   now, usage)


async def _reserve_and_queue(instance_id: str, message: Message, messages: Messages,
                             quota: Quota, seeded: bool = False) -> QuotaUsage:
    """As the Messaging API's send: a seeded message already queued was queued by an
    earlier run of this same request."""
    try:
        usage = await quota.reserve(instance_id, message.user_id, [message.id])
    except DependencyUnavailableError:
        await _release(quota, instance_id, message, "reservation outcome unknown")
        raise
    try:
        await messages.add(message)
    except ConcurrencyError:
        if not seeded:
            await _release(quota, instance_id, message, "message could not be queued")
            raise
    except Exception:
        await _release(quota, instance_id, message, "message could not be queued")
        raise
    return usage


async def _release(quota: Quota, instance_id: str, message: Message, reason: str) -> None:
    try:
        await quota.release(instance_id, [message.id], reason)
    except Exception:
        log.exception("could not release the quota reserved for %s", message.id)

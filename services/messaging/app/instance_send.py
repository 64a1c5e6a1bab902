"""The Instance API send: one message pinned to the caller's instance, paid from its quota."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime

from services.messaging.app.charging import charge_and_queue
from services.messaging.app.dependencies import QUOTA, Charge, MessagingDeps, QuotaUsage
from services.messaging.domain.errors import InstanceNotConnectedError
from services.messaging.domain.events import Media
from services.messaging.domain.lifecycle import HistoryEntry, Status
from services.messaging.domain.model import Message, message_ids

INSTANCE = "instance"


@dataclass(frozen=True)
class SendInstanceMessage:
    instance_id: str
    user_id: int
    number: str
    message: str
    id_seed: str = ""  # see model.message_ids
    media: Media | None = None  # a media message: `message` is its caption


@dataclass(frozen=True)
class InstanceMessageAccepted:
    """`status` SENT (at `sent_at`) or FAILED (`error_message`) when the device service
    recorded it within the wait, else QUEUED."""

    message_id: str
    status: Status
    number: str
    body: str
    queued_at: datetime
    quota: QuotaUsage
    sent_at: datetime | None = None
    error_message: str | None = None


async def send_instance_message(cmd: SendInstanceMessage,
                                deps: MessagingDeps) -> InstanceMessageAccepted:
    """Validate, check the instance is linked, reserve quota, queue (release on failure),
    then wait up to `deps.handover_wait` seconds for the message to be handed over."""
    message = Message(message_ids(cmd.id_seed, deps.new_id)())
    now = deps.clock()
    message.queue(cmd.user_id, cmd.number, cmd.message, now, channel=INSTANCE,
                  instance_id=cmd.instance_id, media=cmd.media)
    if not await deps.devices.connected(cmd.instance_id):
        raise InstanceNotConnectedError(cmd.instance_id,
                                        await deps.devices.last_error(cmd.instance_id))
    waits = deps.handover_wait > 0
    handed_over = await deps.handovers.expect(message.id) if waits else None
    try:
        usage = await asyncio.shield(charge_and_queue(
            deps.reservations, Charge(QUOTA, cmd.instance_id, [message.id]),
            reserve=lambda: deps.quota.reserve(cmd.instance_id, message.user_id, [message.id]),
            queue=lambda: deps.messages.add(message), seeded=bool(cmd.id_seed)))
        outcome = await _within(handed_over, deps.handover_wait)
    finally:
        if waits:
            await deps.handovers.forget(message.id)
    if outcome is None:
        return InstanceMessageAccepted(message.id, Status.QUEUED, message.number,
                                       message.body, now, usage)
    sent_at = outcome.updated_at if outcome.status is Status.SENT else None
    return InstanceMessageAccepted(message.id, outcome.status, message.number, message.body,
                                   now, usage, sent_at, outcome.error_message)


async def _within(handed_over: Awaitable[HistoryEntry] | None,
                  seconds: float) -> HistoryEntry | None:
    """The message's MessageSent or MessageFailed, if it comes within `seconds`."""
    if handed_over is None:
        return None
    try:
        return await asyncio.wait_for(handed_over, seconds)
    except TimeoutError:
        return None

"""The bulk send: one body to many numbers, one reservation and one append for all."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from kernel.clock import utcnow
from kernel.eventstore import ConcurrencyError
from services.messaging.app.dependencies import Billing, Messages
from services.messaging.app.templates import Templates, message_text
from services.messaging.domain import rules
from services.messaging.domain.errors import DependencyUnavailableError
from services.messaging.domain.model import Message, message_ids, new_message_id
from services.messaging.domain.templates import VariableLimits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendBulkMessage:
    user_id: int
    numbers: list[str]
    message: str
    template_id: int = 0
    variables: dict[str, str] = field(default_factory=dict)
    id_seed: str = ""  # see model.message_ids


@dataclass(frozen=True)
class BulkAccepted:
    queue_ids: list[str]
    remaining_credits: int


async def send_bulk_message(cmd: SendBulkMessage, messages: Messages, billing: Billing,
                            new_id: Callable[[], str] = new_message_id,
                            clock: Callable[[], datetime] = utcnow,
                            templates: Templates | None = None,
                            variable_limits: VariableLimits = VariableLimits()
                            ) -> BulkAccepted:
    """Validate every number and the body first; then reserve, queue, or release all."""
    body = rules.message_body(await message_text(
        cmd.user_id, cmd.message, cmd.template_id, cmd.variables, templates,
        variable_limits))
    now = clock()
    batch = []
    ids = message_ids(cmd.id_seed, new_id)
    for number in rules.bulk_recipients(cmd.numbers):
        message = Message(ids())
        message.queue(cmd.user_id, number, body, now)
        batch.append(message)
    return await asyncio.shield(_charge_and_queue(cmd.user_id, batch, messages, billing,
                                                  bool(cmd.id_seed)))


async def _charge_and_queue(user_id: int, batch: list[Message], messages: Messages,
                            billing: Billing, seeded: bool = False) -> BulkAccepted:
    """As the single send: a seeded batch already queued (all of it: the batch is one
    append) was queued by an earlier run of this same request."""
    ids = [m.id for m in batch]
    try:
        remaining = await billing.reserve(user_id, ids)
    except DependencyUnavailableError:
        await _release(billing, user_id, ids, "reservation outcome unknown")
        raise
    try:
        await messages.add_many(batch)
    except ConcurrencyError:
        if not seeded:
            await _release(billing, user_id, ids, "messages could not be queued")
            raise
    except Exception:
        await _release(billing, user_id, ids, "messages could not be queued")
        raise
    return BulkAccepted(ids, remaining)


async def _release(billing: Billing, user_id: int, ids: list[str], reason: str) -> None:
    try:
        await billing.release(user_id, ids, reason)
    except Exception:
        log.exception("could not release the credits reserved for %d messages", len(ids))

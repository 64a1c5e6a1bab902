"""The Messaging API's single send and its queries, one handler per command or query,
each `handle(cmd, deps)`; the bulk and Instance API sends are in bulk_send.py and
instance_send.py, and all three charge through charging.py."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from services.messaging.app.charging import charge_and_queue, usable_pool
from services.messaging.app.dependencies import (
    CREDIT,
    Charge,
    HistoryQuery,
    MessagingDeps,
    PoolStatus,
)
from services.messaging.app.templates import message_text
from services.messaging.app.whatsapp_templates import whatsapp_template_message
from services.messaging.domain import rules
from services.messaging.domain.errors import MessageNotFoundError
from services.messaging.domain.events import Media
from services.messaging.domain.lifecycle import HistoryEntry, Status
from services.messaging.domain.model import Message, message_ids

DEFAULT_PER_PAGE = 10
E = TypeVar("E")
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class SendMessage:
    user_id: int
    number: str
    message: str
    template_id: int = 0
    variables: dict[str, str] = field(default_factory=dict)
    id_seed: str = ""  # see model.message_ids
    whatsapp_template: str = ""  # a Meta template (JSON): sent instead of a text
    media: Media | None = None  # a media message: `message` is its caption


@dataclass(frozen=True)
class MessageAccepted:
    queue_id: str
    remaining_credits: int
    queue_position: int
    pool: PoolStatus


@dataclass(frozen=True)
class GetMessageStatus:
    user_id: int
    queue_id: str


@dataclass(frozen=True)
class ListMessages:
    user_id: int
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    status: Status | None = None
    number: str = ""
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class MessagePage(Generic[E]):
    """A page of a listing (history entries, received messages) and its place."""

    entries: list[E]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.per_page)


async def send_message(cmd: SendMessage, deps: MessagingDeps) -> MessageAccepted:
    """Validate, reserve a credit, queue; a queue that fails gives the credit back."""
    if cmd.whatsapp_template:
        message = await whatsapp_template_message(
            cmd.user_id, cmd.number, cmd.whatsapp_template,
            bool(cmd.message or cmd.template_id), cmd.id_seed, deps)
        return await asyncio.shield(_charge_and_queue(message, deps, bool(cmd.id_seed)))
    body = await message_text(cmd.user_id, cmd.message, cmd.template_id, cmd.variables,
                              deps.templates, deps.variable_limits)
    message = Message(message_ids(cmd.id_seed, deps.new_id)())
    message.queue(cmd.user_id, cmd.number, body, deps.clock(), media=cmd.media)
    # Shielded: a caller that goes away cannot split a reservation from its message.
    return await asyncio.shield(_charge_and_queue(message, deps, bool(cmd.id_seed)))


async def _charge_and_queue(message: Message, deps: MessagingDeps,
                            seeded: bool) -> MessageAccepted:
    devices = await usable_pool(deps.pool, deps.messages, message.id, seeded)
    remaining = await charge_and_queue(
        deps.reservations, Charge(CREDIT, str(message.user_id), [message.id]),
        reserve=lambda: deps.billing.reserve(message.user_id, [message.id]),
        queue=lambda: deps.messages.add(message), seeded=seeded)
    return MessageAccepted(message.id, remaining, devices.queue_depth + 1, devices)


async def get_message_status(query: GetMessageStatus, deps: MessagingDeps) -> HistoryEntry:
    """The message's status from the history view; another user's id is not found."""
    entry = await deps.history.entry(query.queue_id)
    if entry is None or entry.user_id != query.user_id:
        raise MessageNotFoundError(query.queue_id)
    return entry


async def list_messages(query: ListMessages,
                        deps: MessagingDeps) -> MessagePage[HistoryEntry]:
    page = max(query.page, 1)
    per_page = min(query.per_page, MAX_PER_PAGE) if query.per_page > 0 else DEFAULT_PER_PAGE
    entries, total = await deps.history.search(HistoryQuery(
        user_id=query.user_id, offset=(page - 1) * per_page, limit=per_page,
        status=query.status, number=rules.number_filter(query.number),
        since=query.since, until=query.until))
    return MessagePage(entries, page, per_page, total)

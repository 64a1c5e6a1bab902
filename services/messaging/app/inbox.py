"""The inbox's queries, each `handle(query, deps)`: a user's received messages, a page
at a time, and one of them (the owner's only: another user's id is not found)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.messaging.app.dependencies import InboxReader, MessagingDeps
from services.messaging.app.handlers import DEFAULT_PER_PAGE, MAX_PER_PAGE, MessagePage
from services.messaging.domain import rules
from services.messaging.domain.inbox import InboundEntry, InboundNotFoundError


@dataclass(frozen=True)
class ListInbox:
    user_id: int
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    number: str = ""
    since: datetime | None = None
    device_id: str = ""  # an instance's own messages only


@dataclass(frozen=True)
class GetInbound:
    user_id: int
    message_id: str
    device_id: str = ""


def _inbox(deps: MessagingDeps) -> InboxReader:
    assert deps.inbox is not None, "the messaging service wires its inbox view"
    return deps.inbox


async def list_inbox(query: ListInbox, deps: MessagingDeps) -> MessagePage[InboundEntry]:
    page = max(query.page, 1)
    per_page = min(query.per_page, MAX_PER_PAGE) if query.per_page > 0 else DEFAULT_PER_PAGE
    entries, total = await _inbox(deps).search(
        query.user_id, offset=(page - 1) * per_page, limit=per_page,
        number=rules.number_filter(query.number), since=query.since,
        device_id=query.device_id)
    return MessagePage(entries, page, per_page, total)


async def get_inbound(query: GetInbound, deps: MessagingDeps) -> InboundEntry:
    entry = await _inbox(deps).get(query.message_id)
    if entry is None or entry.user_id != query.user_id or \
            (query.device_id and entry.device_id != query.device_id):
        raise InboundNotFoundError(query.message_id)
    return entry

"""Messages in the event store, and in the history view from the moment they are queued.

The queued row is merged into the view in the append's own transaction: the very fact the
history projection derives from MessageQueued in a rebuild, so the view and a rebuild are
the same, and a client can look up the queue_id it was just given. No live consumer
merges MessageQueued again (the projection's `folded_by_writer`): it could only find the
row as the append left it. Every message is queued here, by `add` or `add_many`. Single
sends arriving together share one transaction (group commit) and one merge into the view.
"""

from __future__ import annotations

from kernel.aggregate import Repository
from kernel.eventstore import EventStore
from kernel.groupcommit import GroupCommit, Joined
from services.messaging.adapters.bulk_jobs import add_members, members_of
from services.messaging.adapters.codec import messaging_codec
from services.messaging.adapters.history_view import merge_entries
from services.messaging.domain.events import MessageQueued
from services.messaging.domain.lifecycle import queued_entry
from services.messaging.domain.model import Message


class MessageStore:
    def __init__(self, store: EventStore, group: GroupCommit | None = None) -> None:
        self.store = store
        self.repository = Repository(store, messaging_codec(), Message, group=group)

    async def add(self, message: Message) -> None:
        facts = [queued_entry(e) for e in message.pending if isinstance(e, MessageQueued)]
        await self.repository.save(message, extra=Joined(merge_entries, facts))

    async def queued(self, message_id: str) -> bool:
        return (await self.repository.get(message_id)).version > 0

    async def add_many(self, messages: list[Message]) -> None:
        """New messages in one transaction: one append for all, one merge into the view
        (and, for a bulk request's, into the bulk jobs view)."""
        queued = [e for m in messages for e in m.pending if isinstance(e, MessageQueued)]
        async with self.store.transaction() as conn:
            await self.repository.save(*messages, conn=conn)
            await merge_entries(conn, [queued_entry(e) for e in queued])
            await add_members(conn, members_of(queued))

"""Which bulk request queued which message: the rows of the bulk jobs view
(history_view.bulk_job_messages), from each MessageQueued's `bulk_job_id`. Written by
the history projection, and by the bulk send's own transaction beside the history's
first rows, so a job answers as soon as its request does."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.db import insert_for
from services.messaging.adapters.history_view import bulk_job_messages
from services.messaging.domain.events import MessageQueued

Member = tuple[str, str, int]  # queue id, job id, user id


def members_of(events: Sequence[MessageQueued]) -> list[Member]:
    return [(e.message_id, e.bulk_job_id, e.user_id) for e in events if e.bulk_job_id]


async def add_members(conn: AsyncConnection, members: Sequence[Member]) -> None:
    """Record the messages' jobs; a message already recorded is kept (it never moves)."""
    if not members:
        return
    stmt = (insert_for(conn.dialect.name)(bulk_job_messages)
            .on_conflict_do_nothing(index_elements=["queue_id"]))
    await conn.execute(stmt, [{"queue_id": q, "job_id": job, "user_id": user}
                              for q, job, user in members])

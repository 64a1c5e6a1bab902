"""Billing's write-side indexes rebuilt from its events: at start-up, once, for a store
written before they existed (`ensure_indexes`); `rebuild_indexes` does the replay."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.codec import EventCodec
from kernel.db import is_postgres, writing
from kernel.tables import events_table
from services.billing.adapters.index import (
    due_table,
    holds_table,
    index_metadata,
    marks_table,
    write_due,
    write_holds,
)
from services.billing.domain.holds import hold_changes
from services.billing.domain.subscription import due_change

MARK = "indexes-v1"
PAGE = 2000
INDEXED = [
    "CreditsReserved", "CreditsSpent", "CreditsReleased",
    "QuotaReserved", "QuotaSpent", "QuotaReleased",
    "SubscriptionStarted", "SubscriptionRenewed", "SubscriptionAutoRenewed",
    "QuotaPeriodStarted", "SubscriptionExpired", "SubscriptionCancelled",
]


async def ensure_indexes(engine: AsyncEngine, codec: EventCodec) -> int:
    """Create the index tables; build them from the events if this store never has.
    Returns the events read (0 when the indexes were already there)."""
    async with writing(engine) as conn:
        await conn.run_sync(index_metadata.create_all)
    async with writing(engine) as conn:
        if is_postgres(engine):
            await conn.execute(text("LOCK TABLE billing_index_marks IN EXCLUSIVE MODE"))
        marked = (await conn.execute(select(marks_table.c.name)
                                     .where(marks_table.c.name == MARK))).first()
        if marked is not None:
            return 0
        count = await rebuild_indexes(conn, codec)
        await conn.execute(insert(marks_table).values(name=MARK))
    return count


async def rebuild_indexes(conn: AsyncConnection, codec: EventCodec) -> int:
    """Empty the indexes and replay every event that names a hold or a due date."""
    if is_postgres(conn.engine):
        await conn.execute(text("LOCK TABLE events IN EXCLUSIVE MODE"))
    await conn.execute(delete(holds_table))
    await conn.execute(delete(due_table))
    position, count = 0, 0
    dues: list = []
    t = events_table
    while True:
        rows = (await conn.execute(
            select(t.c.position, t.c.stream_id, t.c.event_type, t.c.payload)
            .where(t.c.event_type.in_(INDEXED), t.c.position > position)
            .order_by(t.c.position).limit(PAGE))).all()
        if not rows:
            break
        changes = []
        for row in rows:
            event = codec.decode_payload(row.event_type, row.payload)
            changes.extend(hold_changes(row.stream_id, event))
            if (due := due_change(event)) is not None:
                dues.append(due)
        await write_holds(conn, changes)
        count, position = count + len(rows), rows[-1].position
    await write_due(conn, dues)
    return count

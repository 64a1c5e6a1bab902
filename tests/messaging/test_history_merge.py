"""Integration, on SQLite and PostgreSQL: folding a batch of facts into the history view
at once (what the projection does with each fetched batch) leaves every row as merging
them one by one does, whatever the batch boundaries, duplicates or rows already there."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select

from kernel.db import create_engine
from services.messaging.adapters.history_view import (
    add_entry,
    insert_entries,
    merge_entries,
    merge_entry,
    message_history,
    view_metadata,
)
from services.messaging.domain.lifecycle import HistoryEntry, Status

T0 = datetime(2025, 6, 3, 10, 30, tzinfo=UTC)


def facts(messages: int) -> list[HistoryEntry]:
    """Each message queued, then some of sending/sent/delivered/read/failed, with
    receipts twice and in any order."""
    rng = random.Random(7)
    out = []
    for k in range(messages):
        qid = f"msg_{k}"
        out.append(HistoryEntry(qid, Status.QUEUED, T0, user_id=1 + k % 3, number=f"2782{k}",
                                message=f"hello {k}", created_at=T0))
        for step, status in enumerate(list(Status)[1:rng.randint(1, 6)], 1):
            at = T0 + timedelta(seconds=step)
            reason = "banned" if status is Status.FAILED else None
            out.extend([HistoryEntry(qid, status, at, user_id=1 + k % 3,
                                     error_message=reason)] * rng.randint(1, 2))
    rng.shuffle(out)
    return out


async def view_after(url: str, apply, already: list[HistoryEntry]) -> list[tuple]:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(view_metadata.drop_all)
        await conn.run_sync(view_metadata.create_all)
        await insert_entries(conn, already)
    await apply(engine)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(message_history)
                                   .order_by(message_history.c.queue_id))).all()
    await engine.dispose()
    return [tuple(r) for r in rows]


async def test_a_folded_batch_equals_merging_one_by_one(database_url: str) -> None:
    found = facts(60)
    already = [f for f in found if f.status is Status.QUEUED][:20]  # as the accept path

    async def one_by_one(engine) -> None:
        for fact in found:
            async with engine.begin() as conn:
                await merge_entry(conn, fact)

    async def in_batches(engine) -> None:
        start = 0
        for size in (1, 7, 50, 3, 1000):
            async with engine.begin() as conn:
                await merge_entries(conn, found[start:start + size])
            start += size

    expected = await view_after(database_url, one_by_one, already)
    assert len(expected) == 60
    assert await view_after(database_url, in_batches, already) == expected


async def test_adding_an_entry_equals_merging_it_and_a_new_one_is_one_insert(
        database_url: str) -> None:
    """The accept path's `add_entry`: the same rows as `merge_entry`, whether a row is
    there already or not; for a message with no row yet, one statement and no read."""
    found = facts(40)
    already = [f for f in found if f.status is Status.QUEUED][:10]
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement.split()[0].upper())

    async def apply_with(merge):
        async def apply(engine) -> None:
            for fact in found:
                async with engine.begin() as conn:
                    await merge(conn, fact)
        return apply

    expected = await view_after(database_url, await apply_with(merge_entry), already)
    assert await view_after(database_url, await apply_with(add_entry), already) == expected

    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(view_metadata.drop_all)
        await conn.run_sync(view_metadata.create_all)
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    async with engine.begin() as conn:
        await add_entry(conn, HistoryEntry("new", Status.QUEUED, T0, user_id=1,
                                           number="27821", message="hi", created_at=T0))
    await engine.dispose()
    assert [s for s in statements if s in ("SELECT", "INSERT", "UPDATE")] == ["INSERT"]

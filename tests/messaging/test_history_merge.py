"""Integration, on SQLite and PostgreSQL: folding a batch of facts into the history view
at once (what the projection does with each fetched batch) leaves every row as merging
them one by one does, whatever the batch boundaries, duplicates or rows already there."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from kernel.db import create_engine
from services.messaging.adapters.history_view import (
    entry_of,
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
        await merge_entries(conn, already)
    await apply(engine)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(message_history)
                                   .order_by(message_history.c.queue_id))).all()
    await engine.dispose()
    return [tuple(r) for r in rows]


def in_batches(found: list[HistoryEntry], sizes: tuple[int, ...]):
    """Merge the facts with `merge_entries`, a transaction per batch of these sizes."""
    async def apply(engine) -> None:
        start = 0
        for size in sizes:
            async with engine.begin() as conn:
                await merge_entries(conn, found[start:start + size])
            start += size
    return apply


async def test_a_folded_batch_equals_merging_one_by_one(database_url: str) -> None:
    found = facts(60)
    already = [f for f in found if f.status is Status.QUEUED][:20]  # as the accept path

    async def one_by_one(engine) -> None:
        for fact in found:
            async with engine.begin() as conn:
                await merge_entry(conn, fact)

    expected = await view_after(database_url, one_by_one, already)
    assert len(expected) == 60
    assert await view_after(database_url, in_batches(found, (1, 7, 50, 3, 1000)),
                            already) == expected


async def test_the_accept_paths_row_for_a_new_message_is_one_insert(
        database_url: str) -> None:
    """The accept path merges a queued message's row as the projection does
    (`merge_entries`); for a message with no row yet that is one statement and no read."""
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement.split()[0].upper())

    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(view_metadata.drop_all)
        await conn.run_sync(view_metadata.create_all)
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    async with engine.begin() as conn:
        await merge_entries(conn, [HistoryEntry("new", Status.QUEUED, T0, user_id=1,
                                                number="27821", message="hi", created_at=T0)])
    await engine.dispose()
    assert [s for s in statements if s in ("SELECT", "INSERT", "UPDATE")] == ["INSERT"]


def disagreeing_facts(messages: int) -> list[HistoryEntry]:
    """Facts about each message that disagree on everything the merge picks between:
    numbers, texts and failure reasons whose order a linguistic collation changes (case,
    accents, emoji), one status at two times, two queued times, user ids."""
    rng = random.Random(11)
    words = ["a", "B", "é", "f", "z", "ä", "Zebra", "zebra", "😀", "ñu", "nu", ""]
    out = []
    for k in range(messages):
        qid = f"msg_{k}"
        for _ in range(rng.randint(1, 6)):
            status = rng.choice(list(Status))
            at = T0 + timedelta(seconds=rng.randint(0, 3), microseconds=rng.randint(0, 2))
            queued = status is Status.QUEUED
            out.append(HistoryEntry(
                qid, status, at, user_id=rng.randint(0, 2),
                number=rng.choice(words) if queued else None,
                message=rng.choice(words) if queued else None,
                error_message=rng.choice(words) if status is Status.FAILED else None,
                created_at=at if queued else None))
    rng.shuffle(out)
    return out


@pytest.fixture
async def collated_url(database_url: str, request: pytest.FixtureRequest) -> str:
    """The test's store; on PostgreSQL, a database whose default collation is ICU's
    en-US, where "B" sorts after "a" (the merge must still pick as Python does)."""
    if not database_url.startswith("postgresql"):
        return database_url
    admin_url = request.getfixturevalue("postgres_admin_url")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0 '
                                "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"))
    await admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


async def test_each_row_is_the_domain_merge_of_its_facts(collated_url: str) -> None:
    """The view's merge is done by the upsert itself: every row comes out as
    HistoryEntry.merge of all its message's facts, in any batches and with rows there."""
    found = disagreeing_facts(80)
    expected: dict[str, HistoryEntry] = {}
    for fact in found:
        seen = expected.get(fact.queue_id)
        expected[fact.queue_id] = fact if seen is None else seen.merge(fact)
    already = [f for f in found if f.status is Status.QUEUED][:15]

    rows = await view_after(collated_url, in_batches(found, (1, 2, 30, 5, 1000)), already)
    columns = [c.name for c in message_history.columns]
    got = [entry_of(SimpleNamespace(**dict(zip(columns, r, strict=True)))) for r in rows]
    assert got == [expected[q] for q in sorted(expected)]

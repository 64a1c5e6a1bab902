"""The event store contract, on SQLite and on PostgreSQL (via the `database_url` fixture)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel import context
from kernel.db import create_engine, is_postgres
from kernel.eventstore import ConcurrencyError, EventStore, NewEvent, StreamWrite


def events(*types: str) -> list[NewEvent]:
    return [NewEvent(t, f"payload-{t}".encode()) for t in types]


async def test_append_then_read_stream_and_read_all(store: EventStore, unique: str) -> None:
    a, b = f"order-{unique}-a", f"order-{unique}-b"
    trace = context.begin(f"corr-{unique}", causation_id="cause-1", actor="tester")
    first = events("Placed", "Paid", "Packed")
    before = datetime.now(UTC) - timedelta(seconds=1)
    await store.append(a, 0, first)
    await store.append(b, 0, events("Placed"))
    await store.append(a, 3, events("Shipped", "Delivered"))

    stream_a = await store.read_stream(a)
    assert [e.stream_version for e in stream_a] == [1, 2, 3, 4, 5]
    assert [e.event_type for e in stream_a] == ["Placed", "Paid", "Packed", "Shipped",
                                                "Delivered"]
    assert [e.event_id for e in stream_a[:3]] == [e.event_id for e in first]
    assert stream_a[1].payload == b"payload-Paid"
    assert stream_a[0].meta == trace.as_metadata()
    assert all(e.stream_id == a for e in stream_a)
    assert before < stream_a[0].recorded_at <= datetime.now(UTC)
    assert stream_a[0].recorded_at.tzinfo is not None

    assert [e.stream_version for e in await store.read_stream(a, after_version=3)] == [4, 5]
    assert await store.read_stream(f"nothing-{unique}") == []

    everything = await store.read_all()
    assert [(e.stream_id, e.stream_version) for e in everything] == [
        (a, 1), (a, 2), (a, 3), (b, 1), (a, 4), (a, 5)]
    positions = [e.position for e in everything]
    assert positions == sorted(positions) and len(set(positions)) == 6
    assert await store.read_all(positions[3], limit=10) == everything[4:]
    assert await store.read_all(positions[0], limit=2) == everything[1:3]
    assert await store.read_all(positions[-1]) == []


async def test_append_behind_the_stream_is_a_concurrency_error(store: EventStore,
                                                              unique: str) -> None:
    stream = f"acct-{unique}"
    await store.append(stream, 0, events("Opened", "Credited"))
    for stale in (0, 1):
        with pytest.raises(ConcurrencyError):
            await store.append(stream, stale, events("Debited"))
    assert [e.event_type for e in await store.read_stream(stream)] == ["Opened", "Credited"]
    await store.append(stream, 2, events("Debited"))
    assert [e.stream_version for e in await store.read_stream(stream)] == [1, 2, 3]


async def test_append_many_is_atomic_across_streams(store: EventStore, engine: AsyncEngine,
                                                    unique: str) -> None:
    a, b, c = (f"{x}-{unique}" for x in "abc")
    await store.append_many([StreamWrite(a, 0, events("A1")), StreamWrite(b, 0, events("B1"))])
    snapshot = await store.read_all()

    # c is new and fine, b is fine, but a moved on: nothing of the batch may be stored.
    batch = [StreamWrite(c, 0, events("C1", "C2")), StreamWrite(b, 1, events("B2")),
             StreamWrite(a, 0, events("A-stale"))]
    with pytest.raises(ConcurrencyError):
        await store.append_many(batch)
    assert await store.read_all() == snapshot
    assert await store.read_stream(c) == []

    # The same inside a caller's transaction: the caller rolls back, nothing is kept.
    with pytest.raises(ConcurrencyError):
        async with engine.begin() as conn:
            await store.append_many(batch, conn)
    assert await store.read_all() == snapshot

    await store.append_many(batch[:2] + [StreamWrite(a, 1, events("A2"))])
    assert [e.stream_version for e in await store.read_stream(c)] == [1, 2]
    assert [e.event_type for e in await store.read_stream(a)] == ["A1", "A2"]
    assert [e.event_type for e in await store.read_stream(b)] == ["B1", "B2"]


async def test_appends_inside_a_callers_transaction_commit_with_it(store: EventStore,
                                                                 engine: AsyncEngine,
                                                                 unique: str) -> None:
    stream = f"tx-{unique}"
    async with engine.connect() as conn, conn.begin() as tx:
        await store.append(stream, 0, events("One"), conn)
        assert [e.event_type for e in await store.read_stream(stream, conn=conn)] == ["One"]
        await tx.rollback()
    assert await store.read_stream(stream) == []
    async with engine.begin() as conn:
        await store.append(stream, 0, events("One", "Two"), conn)
    assert [e.stream_version for e in await store.read_stream(stream)] == [1, 2]


async def _separate_stores(database_url: str, count: int) -> list[EventStore]:
    """Stores on engines of their own: each writer has its own connection."""
    return [EventStore(create_engine(database_url)) for _ in range(count)]


async def _dispose(stores: list[EventStore]) -> None:
    for s in stores:
        await s.engine.dispose()


@pytest.mark.parametrize("writers", [2, 20])
async def test_concurrent_appends_at_one_version_exactly_one_wins(
        store: EventStore, database_url: str, unique: str, writers: int) -> None:
    stream = f"race-{unique}"
    await store.append(stream, 0, events("Created"))
    stores = await _separate_stores(database_url, writers)
    for s in stores:  # open every connection before the race starts
        await s.read_stream(stream)
    start = asyncio.Barrier(writers)
    batches = [events("Changed", "Changed", "Changed") for _ in range(writers)]

    async def write(s: EventStore, batch: list[NewEvent]) -> None:
        await start.wait()
        await s.append(stream, 1, batch)

    try:
        results = await asyncio.gather(*(write(s, b) for s, b in zip(stores, batches, strict=True)),
                                       return_exceptions=True)
    finally:
        await _dispose(stores)
    winners = [i for i, r in enumerate(results) if r is None]
    assert len(winners) == 1, results
    assert all(isinstance(r, ConcurrencyError) for r in results if r is not None), results
    stored = await store.read_stream(stream)
    assert [e.stream_version for e in stored] == [1, 2, 3, 4]
    assert [e.event_id for e in stored[1:]] == [e.event_id for e in batches[winners[0]]]


async def test_concurrent_writers_retrying_leave_no_gaps(store: EventStore, database_url: str,
                                                         unique: str) -> None:
    """20 writers each load the version, append at it, and retry on ConcurrencyError."""
    stream = f"retry-{unique}"
    stores = await _separate_stores(database_url, 20)
    conflicts = 0

    async def write(s: EventStore, n: int) -> str:
        nonlocal conflicts
        new = NewEvent("Appended", str(n).encode())
        while True:
            version = len(await s.read_stream(stream))
            await asyncio.sleep(random.random() / 100)
            try:
                await s.append(stream, version, [new])
                return new.event_id
            except ConcurrencyError:
                conflicts += 1

    try:
        ids = await asyncio.gather(*(write(s, n) for n, s in enumerate(stores)))
    finally:
        await _dispose(stores)
    stored = await store.read_stream(stream)
    assert [e.stream_version for e in stored] == list(range(1, 21))
    assert sorted(e.event_id for e in stored) == sorted(ids)
    assert conflicts > 0  # the writers really did collide


async def _ungranted_lock_waits(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'events' AND NOT l.granted"))).scalar_one())


async def test_a_later_append_waits_for_an_open_one(store: EventStore, engine: AsyncEngine,
                                                    database_url: str, unique: str) -> None:
    """While one append's transaction is open, a second append on another connection
    waits; a reader by position sees neither until the first commits, then both in order."""
    other = EventStore(create_engine(database_url))
    try:
        async with engine.connect() as slow:
            tx = await slow.begin()
            await store.append(f"slow-{unique}", 0, events("Slow"), slow)
            fast = asyncio.create_task(other.append(f"fast-{unique}", 0, events("Fast")))
            await asyncio.sleep(0.5)
            assert not fast.done(), "the second append did not wait for the open one"
            if is_postgres(engine):
                assert await _ungranted_lock_waits(engine) >= 1
            assert await store.read_all() == []
            await tx.commit()
        await asyncio.wait_for(fast, 10)
    finally:
        await other.engine.dispose()
    seen = await store.read_all()
    assert [e.event_type for e in seen] == ["Slow", "Fast"]
    assert seen[0].position < seen[1].position


async def test_readers_by_position_never_see_a_hole_filled_later(
        store: EventStore, database_url: str, unique: str) -> None:
    """Many writers hold their transactions open for a while; a reader polling by position
    must only ever see a prefix of the final order, or a relay would skip late commits."""
    stores = await _separate_stores(database_url, 8)
    snapshots: list[list[int]] = []
    done = asyncio.Event()

    async def write(s: EventStore, n: int) -> None:
        for i in range(12):
            async with s.engine.begin() as conn:
                await s.append(f"w{n}-{unique}", i, events("Tick"), conn)
                await asyncio.sleep(random.random() / 200)

    async def read() -> None:
        while not done.is_set():
            snapshots.append([e.position for e in await store.read_all(limit=10_000)])
            await asyncio.sleep(0)

    reader = asyncio.create_task(read())
    try:
        await asyncio.gather(*(write(s, n) for n, s in enumerate(stores)))
    finally:
        done.set()
        await reader
        await _dispose(stores)
    final = [e.position for e in await store.read_all(limit=10_000)]
    assert len(final) == 8 * 12
    assert len(snapshots) > 10
    for seen in snapshots:
        assert seen == final[:len(seen)], "a reader saw a position before an earlier one"



async def test_the_relay_is_woken_by_transactions_that_append_and_no_others(
        store: EventStore, unique: str) -> None:
    """A transaction that wrote only its caller's rows wakes no relay; one that appended
    does, and on SQLite hands over its events with their positions, one row or many."""
    store.appends_seen()
    async with store.transaction() as conn:
        await conn.execute(text("SELECT 1"))
    started = asyncio.get_running_loop().time()
    await store.wait_for_append(0.3)
    assert asyncio.get_running_loop().time() - started >= 0.25
    before = (await store.read_all(0, limit=1_000_000))
    after = before[-1].position if before else 0
    for round_, count in enumerate((1, 3, 1)):
        store.appends_seen()
        async with store.transaction() as conn:
            await store.append_many([StreamWrite(f"wake-{unique}-{round_}-{n}", 0,
                                                 [NewEvent("Happened", b"x")])
                                     for n in range(count)], conn)
        started = asyncio.get_running_loop().time()
        await store.wait_for_append(5.0)
        assert asyncio.get_running_loop().time() - started < 1.0
    stored = await store.read_all(after, limit=100)
    assert [e.stream_id for e in stored][-5:] == [
        f"wake-{unique}-0-0", *(f"wake-{unique}-1-{n}" for n in range(3)), f"wake-{unique}-2-0"]
    if not is_postgres(store.engine):
        handed = store.committed_after(stored[-6].position if len(stored) > 5 else after, 10)
        assert [(e.position, e.event_id) for e in handed] == [
            (e.position, e.event_id) for e in stored[-5:]]

"""SQLite's statements: which run in the event loop's thread and which in the connection's
own (kernel/sqlite_driver.py), and that a writer waiting for the lock blocks no one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.db import create_engine, reading


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")

    def thread_function(dbapi_conn: object, _record: object) -> None:
        # tid(): the thread a statement runs in, as SQLite sees it
        dbapi_conn.driver_connection._conn.create_function(  # type: ignore[attr-defined]
            "tid", 0, threading.get_ident)

    event.listen(engine.sync_engine, "connect", thread_function)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY, tid INTEGER)"))
    yield engine
    await engine.dispose()


async def test_a_write_transaction_takes_the_lock_in_the_connections_thread_then_runs_here(
        engine: AsyncEngine) -> None:
    here = threading.get_ident()
    async with engine.begin() as conn:
        for n in range(3):
            await conn.execute(text("INSERT INTO t VALUES (:n, tid())"), {"n": n})
        again = (await conn.execute(text("SELECT count(*), tid() FROM t"))).one()
    async with reading(engine) as conn:
        rows = (await conn.execute(text("SELECT tid FROM t ORDER BY n"))).scalars().all()
        read_in = (await conn.execute(text("SELECT tid()"))).scalar_one()
    assert rows[0] != here  # BEGIN IMMEDIATE may wait for the lock: not in the loop
    assert rows[1:] == [here, here]  # the lock is held: nothing left to wait for
    assert tuple(again) == (3, here)
    assert read_in == here  # WAL: a reader never waits for a writer


async def test_a_transactions_first_statement_of_many_rows_writes_them_here(
        engine: AsyncEngine) -> None:
    """Only the lock is taken in the connection's thread: there, sqlite3 would let go of
    the GIL at each row and wait for a busy loop to get it back, the write lock held."""
    here = threading.get_ident()
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (:n, tid())"), [{"n": n} for n in range(5)])
        await conn.execute(text("INSERT INTO t VALUES (:n, tid())"), {"n": 5})
    async with reading(engine) as conn:
        rows = (await conn.execute(text("SELECT tid FROM t ORDER BY n"))).scalars().all()
    assert rows == [here] * 6


async def test_a_writer_waiting_for_another_ones_lock_blocks_no_one(
        engine: AsyncEngine) -> None:
    holding, ticks = asyncio.Event(), 0

    async def first() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1, 0)"))
            holding.set()
            await asyncio.sleep(0.5)  # the lock held while this task awaits

    async def second() -> None:
        await holding.wait()
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (2, 0)"))

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    clock = asyncio.create_task(ticker())
    await asyncio.gather(first(), second())
    clock.cancel()
    async with reading(engine) as conn:
        assert (await conn.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all() == [1, 2]
    assert ticks >= 10  # the loop ran on while the second writer waited


async def test_a_failed_statement_ends_its_transaction_and_the_next_one_starts_clean(
        engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (1, 0)"))
    with pytest.raises(Exception, match="UNIQUE"):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (2, 0)"))
            await conn.execute(text("INSERT INTO t VALUES (1, 0)"))
    with pytest.raises(Exception, match="UNIQUE"):  # fails with its first statement
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1, 0)"))
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (3, 0)"))
    async with engine.begin():
        pass  # began nothing, commits nothing
    async with reading(engine) as conn:
        assert (await conn.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all() == [1, 3]

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

from kernel import sqlite_driver
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


async def test_a_write_transaction_on_a_free_lock_runs_here_from_begin_to_commit(
        engine: AsyncEngine) -> None:
    here = threading.get_ident()
    async with engine.begin() as conn:
        for n in range(3):
            await conn.execute(text("INSERT INTO t VALUES (:n, tid())"), {"n": n})
        again = (await conn.execute(text("SELECT count(*), tid() FROM t"))).one()
    async with reading(engine) as conn:
        rows = (await conn.execute(text("SELECT tid FROM t ORDER BY n"))).scalars().all()
        read_in = (await conn.execute(text("SELECT tid()"))).scalar_one()
    assert rows == [here] * 3  # the lock was free: taken here, without waiting
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
            await conn.execute(text("INSERT INTO t VALUES (2, tid())"))
            await conn.execute(text("INSERT INTO t VALUES (3, tid())"))

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    here = threading.get_ident()
    clock = asyncio.create_task(ticker())
    await asyncio.gather(first(), second())
    clock.cancel()
    async with reading(engine) as conn:
        rows = (await conn.execute(text("SELECT n, tid FROM t ORDER BY n"))).all()
    assert [n for n, _ in rows] == [1, 2, 3]
    assert ticks >= 10  # the loop ran on while the second writer waited
    # it waited for the lock with its first statement, in the connection's thread; the
    # lock held, the rest ran here
    assert rows[1][1] != here
    assert rows[2][1] == here


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


async def test_commits_do_not_checkpoint_the_checkpoints_thread_does_every_so_many(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    checkpoints = sqlite_driver.Checkpoints()  # counting from here
    monkeypatch.setattr(sqlite_driver, "CHECKPOINTS", checkpoints)
    monkeypatch.setattr(sqlite_driver, "CHECKPOINT_EVERY", 4)
    async with reading(engine) as conn:
        assert (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar_one() == 0
    for n in range(3):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (:n, 0)"), {"n": n})
    store = tmp_path / "store.db"
    unchecked = store.read_bytes()
    await asyncio.sleep(0.2)
    assert checkpoints.done == 0  # the rows are in the log only
    async with engine.begin() as conn:  # the 4th commit counted: a checkpoint is asked for
        await conn.execute(text("INSERT INTO t VALUES (3, 0)"))
    for _ in range(200):
        if checkpoints.done:
            break
        await asyncio.sleep(0.01)
    assert checkpoints.done == 1
    assert store.read_bytes() != unchecked  # copied into the store's file


def test_a_checkpoint_of_a_store_removed_meanwhile_creates_nothing(tmp_path: Path) -> None:
    gone = tmp_path / "gone.db"
    checkpoints = sqlite_driver.Checkpoints()
    checkpoints._checkpoint(str(gone))
    assert not gone.exists()
    assert checkpoints.done == 0

"""A store that cannot be reached is told apart from a request it refuses (kernel.db's
`is_outage`, which the gRPC edge turns into UNAVAILABLE), calls fail fast while it is
away, and an engine's pool recovers by itself when it is back."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.db import create_engine, is_outage
from kernel.waits import Backoff
from tests.support.postgres import LocalServer, restartable_server


def test_a_locked_or_unopenable_sqlite_file_is_an_outage(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as locked:
        other.execute("BEGIN IMMEDIATE")
    assert is_outage(locked.value)
    with pytest.raises(sqlite3.OperationalError) as unopenable:
        sqlite3.connect(tmp_path / "missing" / "store.db")
    assert is_outage(unopenable.value)
    with pytest.raises(sqlite3.OperationalError) as no_table:
        other.execute("SELECT * FROM nowhere")
    assert not is_outage(no_table.value)
    holder.close()
    other.close()


@pytest.fixture(scope="module")
def pg() -> Iterator[LocalServer]:
    try:
        with restartable_server() as server:
            yield server
    except RuntimeError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(str(exc))


async def _scalar(engine: AsyncEngine, sql: str) -> object:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar()


@pytest.mark.postgres
async def test_a_stopped_server_fails_fast_as_an_outage_and_the_pool_recovers(
        pg: LocalServer) -> None:
    engine = create_engine(pg.url, schema="public", connect_timeout=2.0)
    try:
        assert await _scalar(engine, "SELECT 1") == 1  # a pooled connection now exists
        with pytest.raises(Exception) as refused_sql:
            await _scalar(engine, "SELECT nonsense FROM nowhere")
        assert not is_outage(refused_sql.value)

        pg.stop()
        for _ in range(2):  # the pooled connection (cut), then a new one (refused)
            started = time.monotonic()
            with pytest.raises(Exception) as down:
                await _scalar(engine, "SELECT 1")
            assert is_outage(down.value), repr(down.value)
            assert time.monotonic() - started < 3

        pg.start()
        assert await _scalar(engine, "SELECT 1") == 1
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_pooled_connections_are_checked_after_a_restart_nobody_saw(
        pg: LocalServer) -> None:
    engine = create_engine(pg.url, schema="public")
    try:
        assert await _scalar(engine, "SELECT 1") == 1
        pg.stop()
        pg.start()
        # the pooled connection died with the old server; the first call still succeeds
        assert await _scalar(engine, "SELECT 2") == 2
    finally:
        await engine.dispose()


def test_backoff_doubles_to_its_cap_and_resets() -> None:
    backoff = Backoff(first=0.5, most=3.0)
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5

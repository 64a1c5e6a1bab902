"""SQLite connections go back to the pool with no transaction open, however their
transaction ended (the pool itself does not roll back on check-in)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from kernel.db import create_engine, reading


async def open_transaction(engine) -> bool:
    """Whether the pooled connection (used one at a time here, so always the same one)
    comes out of the pool with a transaction still open."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        return bool(raw.driver_connection.in_transaction)


async def test_reads_writes_and_failures_leave_no_transaction_open(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    assert not await open_transaction(engine)
    async with reading(engine) as conn:
        await conn.execute(text("SELECT count(*) FROM t"))
    assert not await open_transaction(engine)
    with pytest.raises(RuntimeError):
        async with reading(engine) as conn:
            await conn.execute(text("SELECT count(*) FROM t"))
            raise RuntimeError("reader gave up")
    assert not await open_transaction(engine)
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            raise RuntimeError("writer gave up")
    assert not await open_transaction(engine)
    async with reading(engine) as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0
    await engine.dispose()

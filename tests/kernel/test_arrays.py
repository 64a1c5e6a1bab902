"""Integration, PostgreSQL: rows given as one array per column (kernel/arrays.py) are
inserted as given, NULLs, times and texts alike, in one statement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, event, select
from sqlalchemy.dialects.postgresql import insert

from kernel.arrays import as_arrays, unnested
from kernel.db import create_engine
from tests.conftest import _fresh_postgres_database

T0 = datetime(2025, 6, 3, 10, 30, 0, 123456, tzinfo=UTC)
meta = MetaData()
rows_table = Table("array_rows", meta, Column("k", String(16), primary_key=True),
                   Column("n", BigInteger), Column("at", DateTime(timezone=True)))


async def test_rows_given_as_arrays_are_inserted_as_given_in_one_statement(
        postgres_admin_url: str) -> None:
    engine = create_engine(await _fresh_postgres_database(postgres_admin_url))
    statements: list[str] = []
    async with engine.begin() as conn:
        await conn.run_sync(meta.create_all)
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2].split()[0]))
    given = [{"k": f"r{i}", "n": None if i % 3 == 0 else i * 10**12,
              "at": None if i % 4 == 0 else T0 + timedelta(days=i)} for i in range(50)]
    columns = ["k", "n", "at"]
    async with engine.begin() as conn:
        await conn.execute(insert(rows_table).from_select(columns, unnested(rows_table, columns)),
                           as_arrays(given, columns))
    async with engine.connect() as conn:
        found = (await conn.execute(select(rows_table).order_by(rows_table.c.k))).all()
    await engine.dispose()
    assert statements.count("INSERT") == 1
    assert [dict(r._mapping) for r in found] == sorted(given, key=lambda r: r["k"])

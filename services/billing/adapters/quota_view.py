"""The quota view's tables, and the one way rows change: merged, never overwritten.

Every event becomes a merge into one row: counters add up, plan fields are set by the
event that opens a period, and a period's status only moves up its lattice (active <
completed | renewed | expired < cancelled). So the order events arrive in, across
streams or after a redelivery, does not change the result, and a rebuilt view equals the
live one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    case,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.arrays import as_arrays, unnested
from kernel.db import insert_for, reading

view_metadata = MetaData()

instance_periods = Table(
    "quota_instance_periods",
    view_metadata,
    Column("instance_id", String(200), nullable=False),
    Column("period_key", BigInteger, nullable=False),  # epoch seconds of period_start
    Column("user_id", BigInteger, nullable=False, default=0),
    Column("subscription_type", Integer),
    Column("period", Integer),
    Column("monthly_quota", BigInteger),
    Column("period_start", DateTime(timezone=True)),
    Column("period_end", DateTime(timezone=True)),
    Column("messages_reserved", BigInteger, nullable=False, default=0),
    Column("messages_returned", BigInteger, nullable=False, default=0),
    Column("status", String(12), nullable=False, default=""),
    Column("status_rank", Integer, nullable=False, default=-1),
    PrimaryKeyConstraint("instance_id", "period_key"),
)

user_months = Table(
    "quota_user_months",
    view_metadata,
    Column("user_id", BigInteger, nullable=False),
    Column("month", String(7), nullable=False),  # "2024-01", UTC
    Column("messages_queued", BigInteger, nullable=False, default=0),
    Column("instance_messages_queued", BigInteger, nullable=False, default=0),
    Column("credits_granted", BigInteger, nullable=False, default=0),
    Column("credits_reserved", BigInteger, nullable=False, default=0),
    Column("credits_refunded", BigInteger, nullable=False, default=0),
    Column("renewal_payments_cents", BigInteger, nullable=False, default=0),
    PrimaryKeyConstraint("user_id", "month"),
)

STATUS_RANK = {"active": 0, "completed": 1, "renewed": 1, "expired": 1, "cancelled": 2}
COUNTERS = {
    "quota_instance_periods": ("messages_reserved", "messages_returned"),
    "quota_user_months": ("messages_queued", "instance_messages_queued", "credits_granted",
                          "credits_reserved", "credits_refunded", "renewal_payments_cents"),
}


async def merge(conn: AsyncConnection, table: Table, values: dict[str, Any]) -> None:
    """Insert the row, or merge `values` into the one with the same key."""
    await merge_many(conn, table, [values])


async def merge_many(conn: AsyncConnection, table: Table,
                     rows: Sequence[dict[str, Any]]) -> None:
    """`merge` for many rows (of different keys), one statement per shape of row."""
    shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
    for values in rows:
        row = {c: 0 for c in COUNTERS[table.name]} | values
        if "status" in values:
            row["status_rank"] = STATUS_RANK[values["status"]]
        shapes.setdefault(frozenset(values), []).append(row)
    for names, same in shapes.items():
        stmt = _merging(conn.dialect.name, table, names)
        if conn.dialect.name == "postgresql":  # one statement: each column as an array
            await conn.execute(stmt, as_arrays(same, _columns(table, names)))
        else:
            await conn.execute(stmt, same)


def _columns(table: Table, names: frozenset[str]) -> list[str]:
    """The columns a row giving `names` sets: those, every counter, the status's rank."""
    ranked = {"status_rank"} if "status" in names else set()
    return sorted(names | set(COUNTERS[table.name]) | ranked)


@functools.lru_cache(maxsize=256)
def _merging(dialect: str, table: Table, names: frozenset[str]) -> Any:
    """INSERT .. ON CONFLICT DO UPDATE for rows giving `names` (and every counter): on
    PostgreSQL of the rows of arrays (kernel/arrays.py), elsewhere of one row, for an
    executemany. A batch's rows have distinct keys (folded first)."""
    counters = COUNTERS[table.name]
    stmt = insert_for(dialect)(table)
    if dialect == "postgresql":
        columns = _columns(table, names)
        stmt = stmt.from_select(columns, unnested(table, columns))
    new, keys = stmt.excluded, [c.name for c in table.primary_key.columns]
    updates: dict[str, Any] = {c: table.c[c] + new[c] for c in counters if c in names}
    for name in names - set(counters) - set(keys) - {"status"}:
        updates[name] = func.coalesce(new[name], table.c[name])
    if "status" in names:
        higher = new.status_rank > table.c.status_rank
        updates["status"] = case((higher, new.status), else_=table.c.status)
        updates["status_rank"] = case((higher, new.status_rank), else_=table.c.status_rank)
    if not updates:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    return stmt.on_conflict_do_update(index_elements=keys, set_=updates)


async def instance_rows(conn: AsyncConnection, instance_id: str) -> list[Any]:
    t = instance_periods
    query = select(t).where(t.c.instance_id == instance_id).order_by(t.c.period_key)
    return list((await conn.execute(query)).all())


async def user_rows(conn: AsyncConnection, user_id: int) -> list[Any]:
    t = user_months
    query = select(t).where(t.c.user_id == user_id).order_by(t.c.month)
    return list((await conn.execute(query)).all())


class UsageReader:
    """The quota view, read."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def instance_periods(self, instance_id: str) -> list[Any]:
        async with reading(self._engine) as conn:
            return await instance_rows(conn, instance_id)

    async def user_months(self, user_id: int) -> list[Any]:
        async with reading(self._engine) as conn:
            return await user_rows(conn, user_id)

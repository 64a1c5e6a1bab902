"""Billing's write-side indexes, derived from its events and written in the same
transaction as them:

- `billing_holds`: each reserved message id (per kind) -> the stream holding it, its
  state and quota period. The primary key makes a message id's first reservation the
  only one across accounts and processes; changes to a hold are made only by appends to
  its owner's stream, so `UNIQUE(stream_id, stream_version)` serialises them.
- `billing_due`: each active subscription -> when its quota period ends (the renewal
  worker's to-do list).

Both can be dropped and rebuilt from the events (`index_rebuild.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.db import insert_for
from services.billing.domain.holds import Hold, HoldChange

CHUNK = 500

index_metadata = MetaData()

holds_table = Table(
    "billing_holds",
    index_metadata,
    Column("kind", String(8), nullable=False),
    Column("message_id", String(128), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("state", String(10), nullable=False),
    Column("period", BigInteger, nullable=False),
    PrimaryKeyConstraint("kind", "message_id"),
)

due_table = Table(
    "billing_due",
    index_metadata,
    Column("instance_id", String(200), primary_key=True),
    Column("due_at", DateTime(timezone=True), nullable=False, index=True),
)

marks_table = Table(
    "billing_index_marks",
    index_metadata,
    Column("name", String(100), primary_key=True),
)


async def load_holds(conn: AsyncConnection, kind: str,
                     message_ids: Iterable[str]) -> dict[str, Hold]:
    return (await load_kinds(conn, (kind,), message_ids))[kind]


async def load_kinds(conn: AsyncConnection, kinds: Sequence[str],
                     message_ids: Iterable[str]) -> dict[str, dict[str, Hold]]:
    """Kind -> message id -> hold, for each of `kinds`: one statement per CHUNK ids."""
    t = holds_table
    ids = list(dict.fromkeys(message_ids))
    found: dict[str, dict[str, Hold]] = {kind: {} for kind in kinds}
    for start in range(0, len(ids), CHUNK):
        rows = await conn.execute(
            select(t.c.kind, t.c.message_id, t.c.owner, t.c.state, t.c.period)
            .where(t.c.kind.in_(kinds), t.c.message_id.in_(ids[start:start + CHUNK])))
        for row in rows:
            found[row.kind][row.message_id] = Hold(row.owner, row.state, int(row.period))
    return found


async def write_holds(conn: AsyncConnection, changes: Sequence[HoldChange]) -> None:
    """New holds first, then state changes, in order. A new hold whose key exists means
    another account got there first (IntegrityError)."""
    t = holds_table
    opened = [{"kind": c.kind, "message_id": c.message_id, "owner": c.owner,
               "state": c.state, "period": c.period} for c in changes if c.period is not None]
    moved = [{"b_kind": c.kind, "b_id": c.message_id, "b_state": c.state}
             for c in changes if c.period is None]
    if opened:
        await conn.execute(insert(t), opened)
    if moved:
        await conn.execute(
            update(t).where(t.c.kind == bindparam("b_kind"), t.c.message_id == bindparam("b_id"))
            .values(state=bindparam("b_state")), moved)


async def write_due(conn: AsyncConnection, changes: Sequence[tuple[str, datetime | None]]) -> None:
    """Set (or, for None, clear) when each subscription is next due; the last change of
    an instance wins."""
    latest = dict(changes)
    gone = [i for i, due in latest.items() if due is None]
    if gone:
        await conn.execute(delete(due_table).where(due_table.c.instance_id.in_(gone)))
    rows = [{"instance_id": i, "due_at": due} for i, due in latest.items() if due is not None]
    if rows:
        await conn.execute(_upsert(conn, rows))


def _upsert(conn: AsyncConnection, rows: list[dict[str, Any]]) -> Any:
    dialect_insert = insert_for(conn.dialect.name)
    stmt = dialect_insert(due_table).values(rows)
    return stmt.on_conflict_do_update(index_elements=["instance_id"],
                                      set_={"due_at": stmt.excluded.due_at})


async def due_instances(conn: AsyncConnection, now: datetime, limit: int) -> list[str]:
    query = (select(due_table.c.instance_id).where(due_table.c.due_at <= now)
             .order_by(due_table.c.due_at).limit(limit))
    return list((await conn.execute(query)).scalars())

"""The history view: one row per message, the merge of every event seen about it.

Written only by the history projection, read by status lookups and history pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.clock import as_utc
from kernel.db import insert_for, reading
from services.messaging.app.dependencies import HistoryQuery
from services.messaging.domain.lifecycle import BulkJob, HistoryEntry, Status

view_metadata = MetaData()

message_history = Table(
    "message_history",
    view_metadata,
    Column("queue_id", String(64), primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("number", String(32)),
    Column("message", Text),
    Column("status", String(16), nullable=False),
    Column("error_message", Text),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_message_history_user_created", "user_id", "created_at"),
)
t = message_history

# The bulk jobs view: a row per message of a bulk request (adapters/bulk_jobs.py); a
# job's counts are its messages' current statuses in message_history.
bulk_job_messages = Table(
    "bulk_job_messages",
    view_metadata,
    Column("queue_id", String(64), primary_key=True),
    Column("job_id", String(64), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Index("ix_bulk_job_messages_job", "job_id"),
)


def entry_of(row: Any) -> HistoryEntry:
    updated_at = as_utc(row.updated_at)
    assert updated_at is not None
    return HistoryEntry(queue_id=row.queue_id, status=Status.of(row.status),
                        updated_at=updated_at, user_id=row.user_id, number=row.number,
                        message=row.message, error_message=row.error_message,
                        created_at=as_utc(row.created_at))


def row_of(entry: HistoryEntry) -> dict[str, Any]:
    return {"queue_id": entry.queue_id, "user_id": entry.user_id, "number": entry.number,
            "message": entry.message, "status": entry.status.label,
            "error_message": entry.error_message, "created_at": as_utc(entry.created_at),
            "updated_at": as_utc(entry.updated_at)}


async def merge_entry(conn: AsyncConnection, fact: HistoryEntry) -> None:
    """Fold one event's contribution into its message's row (row-locked on PostgreSQL)."""
    current = await _locked(conn, fact.queue_id)
    if current is None:
        if await _insert_new(conn, fact):
            return
        current = await _locked(conn, fact.queue_id)
        assert current is not None
    merged = current.merge(fact)
    if merged != current:
        await conn.execute(update(t).where(t.c.queue_id == fact.queue_id)
                           .values(**row_of(merged)))


async def add_entry(conn: AsyncConnection, fact: HistoryEntry) -> None:
    """`merge_entry` for a message just queued, whose row is almost never there yet: the
    insert first (one statement), the read and merge only if a row was there after all."""
    if not await _insert_new(conn, fact):
        await merge_entry(conn, fact)


async def _locked(conn: AsyncConnection, queue_id: str) -> HistoryEntry | None:
    row = (await conn.execute(
        select(t).where(t.c.queue_id == queue_id).with_for_update())).first()
    return entry_of(row) if row else None


async def _insert_new(conn: AsyncConnection, fact: HistoryEntry) -> bool:
    """Insert the row unless another writer just did; True if this one did."""
    dialect_insert = insert_for(conn.dialect.name)
    stmt = (dialect_insert(t).values(**row_of(fact))
            .on_conflict_do_nothing(index_elements=["queue_id"]).returning(t.c.queue_id))
    return (await conn.execute(stmt)).first() is not None


async def merge_entries(conn: AsyncConnection, facts: Sequence[HistoryEntry]) -> None:
    """`merge_entry` for a batch: the facts about each message folded first (merge is
    commutative and associative), then one read, one insert and one update statement per
    chunk of messages instead of two or three statements per event."""
    folded: dict[str, HistoryEntry] = {}
    for fact in facts:
        seen = folded.get(fact.queue_id)
        folded[fact.queue_id] = fact if seen is None else seen.merge(fact)
    # Rows are locked and inserted in queue_id order, so two replicas' projections that
    # share messages wait for each other instead of deadlocking.
    current = await _locked_many(conn, sorted(folded))
    fresh = [folded[q] for q in sorted(folded) if q not in current]
    inserted = await _insert_many(conn, fresh)
    raced = [f.queue_id for f in fresh if f.queue_id not in inserted]
    if raced:
        current.update(await _locked_many(conn, sorted(raced)))
    changed = [m for q, e in current.items() if (m := e.merge(folded[q])) != e]
    if changed:
        await conn.execute(_UPDATE, [_update_row(m) for m in changed])


CHUNK = 500
# SET takes the columns each parameter set names (all but the key), as executemany.
_UPDATE = update(t).where(t.c.queue_id == bindparam("key"))


def _update_row(entry: HistoryEntry) -> dict[str, Any]:
    row = row_of(entry)
    row["key"] = row.pop("queue_id")
    return row


async def _locked_many(conn: AsyncConnection, queue_ids: list[str]) -> dict[str, HistoryEntry]:
    found: dict[str, HistoryEntry] = {}
    for start in range(0, len(queue_ids), CHUNK):
        chunk = queue_ids[start:start + CHUNK]
        rows = await conn.execute(select(t).where(t.c.queue_id.in_(chunk))
                                  .order_by(t.c.queue_id).with_for_update())
        found.update((r.queue_id, entry_of(r)) for r in rows)
    return found


async def _insert_many(conn: AsyncConnection, facts: list[HistoryEntry]) -> set[str]:
    """Insert rows for these messages unless another writer just did; the ids inserted."""
    if not facts:
        return set()
    dialect_insert = insert_for(conn.dialect.name)
    stmt = (dialect_insert(t).on_conflict_do_nothing(index_elements=["queue_id"])
            .returning(t.c.queue_id))
    rows = await conn.execute(stmt, [row_of(f) for f in facts])
    return set(rows.scalars())


async def insert_entries(conn: AsyncConnection, facts: list[HistoryEntry]) -> None:
    """Rows for brand-new messages, in one statement (a row already there is kept: the
    projection merges into it later)."""
    if not facts:
        return
    dialect_insert = insert_for(conn.dialect.name)
    await conn.execute(dialect_insert(t).values([row_of(f) for f in facts])
                       .on_conflict_do_nothing(index_elements=["queue_id"]))


class HistoryView:
    """Reads the view for the handlers (the `HistoryReader` port)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def entry(self, queue_id: str) -> HistoryEntry | None:
        async with reading(self.engine) as conn:
            row = (await conn.execute(select(t).where(t.c.queue_id == queue_id))).first()
        return entry_of(row) if row else None

    async def search(self, query: HistoryQuery) -> tuple[list[HistoryEntry], int]:
        where = [t.c.user_id == query.user_id]
        if query.status is not None:
            where.append(t.c.status == query.status.label)
        if query.number:
            where.append(t.c.number == query.number)
        if query.since is not None:
            where.append(t.c.created_at >= as_utc(query.since))
        if query.until is not None:
            where.append(t.c.created_at < as_utc(query.until))
        page = (select(t).where(*where)
                .order_by(t.c.created_at.desc().nulls_last(), t.c.queue_id.desc())
                .offset(query.offset).limit(query.limit))
        async with reading(self.engine) as conn:
            rows = (await conn.execute(page)).all()
            total = (await conn.execute(select(func.count()).select_from(t).where(*where)))
        return [entry_of(r) for r in rows], int(total.scalar_one())

    async def bulk_job(self, user_id: int, job_id: str) -> BulkJob | None:
        """The job's messages counted by current status; None if the user has none."""
        b = bulk_job_messages
        counts = (select(t.c.status, func.count(), func.min(t.c.created_at))
                  .select_from(b.join(t, t.c.queue_id == b.c.queue_id))
                  .where(b.c.job_id == job_id, b.c.user_id == user_id)
                  .group_by(t.c.status))
        async with reading(self.engine) as conn:
            rows = (await conn.execute(counts)).all()
        if not rows:
            return None
        starts = [as_utc(r[2]) for r in rows if r[2] is not None]
        return BulkJob(job_id, {Status.of(r[0]): int(r[1]) for r in rows},
                       min(starts) if starts else None)

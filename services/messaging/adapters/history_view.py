"""The history view: one row per message, the merge of every event seen about it.

Written only by the history projection, read by status lookups and history pages.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
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
    and_,
    case,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import ColumnElement

from kernel.arrays import as_arrays, unnested
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
    """Fold one event's contribution into its message's row."""
    await merge_entries(conn, [fact])


async def merge_entries(conn: AsyncConnection, facts: Sequence[HistoryEntry]) -> None:
    """Fold a batch of facts into the view: the facts about each message merged first
    (merge is commutative and associative), then one row each, inserted or merged into the
    row there by the statement itself (`merging`), so nothing is read back. Rows
    go in queue_id order, so two replicas' projections that share messages wait for each
    other instead of deadlocking (PostgreSQL)."""
    folded: dict[str, HistoryEntry] = {}
    for fact in facts:
        seen = folded.get(fact.queue_id)
        folded[fact.queue_id] = fact if seen is None else seen.merge(fact)
    if not folded:
        return
    rows = [row_of(folded[q]) for q in sorted(folded)]
    if conn.dialect.name == "postgresql":  # one statement: each column as an array
        await conn.execute(merging("postgresql"), as_arrays(rows, COLUMNS))
    else:
        sql, bound = _bound(conn.dialect)
        await conn.exec_driver_sql(sql, [bound(r) for r in rows])


# The domain's merge (HistoryEntry.merge) as the SET of an upsert, the row there `t` and
# the fact `new`: every expression reads the row as it was. Texts compare by code point,
# as Python's max does: SQLite's own order; on PostgreSQL, COLLATE "C" (a database's
# default collation may sort "B" after "a"). SQLite's datetimes are fixed-width UTC text.
RANK = {s.label: s.value for s in Status}


COLUMNS = [c.name for c in t.columns]


@functools.lru_cache(maxsize=4)
def merging(dialect: str) -> Any:
    """INSERT .. ON CONFLICT (queue_id) DO UPDATE with the merge of row and fact: on
    PostgreSQL of the rows of arrays, one a column (`unnest`), in their order; elsewhere
    of one row, for an executemany."""
    stmt = insert_for(dialect)(t)
    if dialect == "postgresql":
        stmt = stmt.from_select(COLUMNS, unnested(t, COLUMNS))
    new = stmt.excluded
    ahead = or_(_rank(new.status) > _rank(t.c.status),
                and_(_rank(new.status) == _rank(t.c.status), new.updated_at > t.c.updated_at))
    text = (lambda c: c.collate("C")) if dialect == "postgresql" else (lambda c: c)
    merged = {"status": case((ahead, new.status), else_=t.c.status),
              "updated_at": case((ahead, new.updated_at), else_=t.c.updated_at),
              "user_id": case((new.user_id > t.c.user_id, new.user_id), else_=t.c.user_id),
              "created_at": _known(new.created_at, t.c.created_at,
                                   new.created_at < t.c.created_at)}
    for name in ("number", "message", "error_message"):
        merged[name] = _known(new[name], t.c[name], text(new[name]) > text(t.c[name]))
    return stmt.on_conflict_do_update(index_elements=["queue_id"], set_=merged)


_BOUND: dict[tuple[str, str], tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]]]] = {}


def _bound(dialect: Dialect) -> tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]]]:
    """`merging`'s SQL for the driver's executemany, and a row's parameters bound as
    SQLAlchemy binds them (its own type processors: SQLite keeps a time as text), in one
    pass: SQLAlchemy's handling of each row of an executemany cost a quarter of the
    row's write on SQLite."""
    key = (dialect.name, dialect.paramstyle)
    if key not in _BOUND:
        compiled = merging(dialect.name).compile(dialect=dialect)
        names = list(compiled.positiontup or ())
        steps = [(n, t.c[n].type.dialect_impl(dialect).bind_processor(dialect)) for n in names]
        _BOUND[key] = (str(compiled), lambda row: tuple(
            row[n] if bind is None else bind(row[n]) for n, bind in steps))
    return _BOUND[key]


def _rank(status: Any) -> ColumnElement[int]:
    """The status's place in the lifecycle, written into the statement (not bound: the
    parameters of an executemany are processed per row)."""
    return case({literal_column(f"'{label}'"): literal_column(str(rank))
                 for label, rank in RANK.items()}, value=status)


def _known(new: Any, old: Any, new_wins: ColumnElement[bool]) -> ColumnElement[Any]:
    """The one that is known; if both are, `new` where it wins (lifecycle._known)."""
    return case((old.is_(None), new), (new.is_(None), old), (new_wins, new), else_=old)


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

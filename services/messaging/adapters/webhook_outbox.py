"""The delivery outbox's statements: which webhooks have due rows and their oldest ones,
claiming them, recording an attempt (and releasing the message's next status), backing
off an endpoint whose breaker opened, and cancelling what a removed webhook had queued.

A row is due when its next attempt time has come, its webhook is still active, and no
earlier status of the same message is still pending for the same webhook (order per
message). A row written behind a pending one has no next attempt time until that one
ends, so waiting rows stay out of the due range and a look for due rows costs the number
of webhooks, not the backlog: the webhooks are found by skipping through an index
(`HOOK_DUE_INDEX`), then each one's oldest rows are read from it. Claiming pushes a
row's next attempt past the delivery's time limit in one statement that only takes rows
still due, so two replicas never send a row at once. No statement here waits for a row
another transaction holds (it passes over it), so the fan-out and the worker never wait
for each other in a cycle (PostgreSQL's deadlock)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, bindparam, exists, func, select, text, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import aliased

from kernel.clock import as_utc
from kernel.db import reading, writing
from services.messaging.adapters.webhook_tables import (
    HOOK_DUE_INDEX,
    webhook_deliveries,
    webhooks,
)

d = webhook_deliveries
PENDING = d.c.state == "pending"


async def ensure_index(engine: AsyncEngine) -> None:
    """The index the due look needs, also on a table made before it existed."""
    async with writing(engine) as conn:
        await conn.execute(text(f"CREATE INDEX IF NOT EXISTS {HOOK_DUE_INDEX} ON "
                                "webhook_deliveries (state, webhook_id, next_attempt_at)"))


def _blocked(row: Any = d) -> Any:
    earlier = aliased(d)
    return exists().where(and_(
        earlier.c.webhook_id == row.c.webhook_id, earlier.c.queue_id == row.c.queue_id,
        earlier.c.state == "pending",
        (earlier.c.rank < row.c.rank) | and_(earlier.c.rank == row.c.rank,
                                             earlier.c.id < row.c.id)))


def _free(*where: Any) -> Any:
    """The rows matching `where` that no other transaction holds, locked for this one
    (PostgreSQL; SQLite has one writer at a time). The worker's multi-row statements
    pass over a row held elsewhere instead of waiting for it, so neither they nor the
    fan-out can close a lock cycle; a row passed over is taken at the next look."""
    return d.c.id.in_(select(d.c.id).where(*where).with_for_update(skip_locked=True))


NOW = bindparam("now", type_=d.c.next_attempt_at.type)


def due_hooks_query() -> Any:
    """(hook, user_id, since) of each active webhook with pending rows, found one index
    seek each (a recursive skip), and its earliest next attempt (None while all its rows
    wait behind one in flight)."""
    seed = select(func.min(d.c.webhook_id).label("hook")).where(PENDING)
    hooks = seed.cte("pending_hooks", recursive=True)
    after = select(func.min(d.c.webhook_id)).where(PENDING, d.c.webhook_id > hooks.c.hook)
    hooks = hooks.union_all(select(after.scalar_subquery()).where(hooks.c.hook.is_not(None)))
    since = (select(d.c.next_attempt_at)  # an index seek, past the waiting rows' NULLs
             .where(PENDING, d.c.webhook_id == hooks.c.hook, d.c.next_attempt_at.is_not(None))
             .order_by(d.c.next_attempt_at).limit(1).scalar_subquery())
    return (select(hooks.c.hook, webhooks.c.user_id, since.label("since"))
            .join(webhooks, webhooks.c.webhook_id == hooks.c.hook)
            .where(webhooks.c.active))


def _head(i: int) -> Any:
    """Up to :room<i> of webhook :hook<i>'s oldest rows due at :now."""
    return (select(d.c.id, d.c.webhook_id, webhooks.c.user_id, d.c.queue_id, d.c.event_id,
                   d.c.body, d.c.status, d.c.attempts, d.c.created_at, webhooks.c.url,
                   webhooks.c.secret)
            .join(webhooks, webhooks.c.webhook_id == d.c.webhook_id)
            .where(PENDING, d.c.webhook_id == bindparam(f"hook{i}"),
                   d.c.next_attempt_at <= NOW, webhooks.c.active, ~_blocked())
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(bindparam(f"room{i}", type_=Integer)).subquery())


@functools.cache
def heads_query(hooks: int) -> Any:
    """The heads of `hooks` webhooks in one statement (built once per count)."""
    selects = [select(*_head(i).c) for i in range(hooks)]
    return selects[0] if hooks == 1 else union_all(*selects)


DUE_HOOKS = due_hooks_query()


@dataclass(frozen=True)
class Due:
    """The due rows taken, and whether any active webhook has pending rows at all."""

    rows: list[Any]
    pending: bool


async def due(engine: AsyncEngine, now: datetime,
              plan: Callable[[list[Any]], dict[str, int]]) -> Due:
    """The due rows `plan(due hooks)` makes room for (it answers {hook: how many}): a
    read-only transaction, which on SQLite does not take the write lock."""
    async with reading(engine) as conn:
        hooks = list((await conn.execute(DUE_HOOKS)).all())
        rooms = plan([h for h in hooks if h.since is not None and as_utc(h.since) <= now])
        if not rooms:
            return Due([], bool(hooks))
        params: dict[str, Any] = {"now": now}
        for i, (hook, room) in enumerate(rooms.items()):
            params |= {f"hook{i}": hook, f"room{i}": room}
        return Due(list((await conn.execute(heads_query(len(rooms)), params)).all()), True)


async def claim(engine: AsyncEngine, ids: Iterable[int], now: datetime,
                lease_until: datetime) -> set[int]:
    """The rows of `ids` this caller got: those still pending and due at `now`."""
    async with writing(engine) as conn:
        result = await conn.execute(
            update(d).where(_free(d.c.id.in_(list(ids)), PENDING, d.c.next_attempt_at <= now))
            .values(next_attempt_at=lease_until).returning(d.c.id))
        return set(result.scalars())


async def record(engine: AsyncEngine, row: Any, values: dict[str, Any],
                 now: datetime) -> None:
    """One attempt's outcome; a row settled meanwhile (cancelled, or recorded by a
    replica whose claim had lapsed) keeps its state. A settled row releases the next
    status of its message."""
    async with writing(engine) as conn:
        done = await conn.execute(update(d).where(d.c.id == row.id, PENDING).values(**values))
        if done.rowcount and values.get("state") in ("delivered", "failed"):
            await _release_next(conn, row.webhook_id, row.queue_id, now)


async def _release_next(conn: AsyncConnection, webhook_id: str, queue_id: str,
                        now: datetime) -> None:
    following = (select(d.c.id).where(d.c.webhook_id == webhook_id, d.c.queue_id == queue_id,
                                      PENDING, d.c.next_attempt_at.is_(None))
                 .order_by(d.c.rank, d.c.id).limit(1).scalar_subquery())
    await conn.execute(update(d).where(d.c.id == following).values(next_attempt_at=now))


async def back_off(engine: AsyncEngine, webhook_id: str, until: datetime, now: datetime,
                   give_up_after: timedelta) -> None:
    """An endpoint's breaker opened: its waiting rows past the give-up age are failed,
    the others wait until `until` (rows in flight are recorded by their own attempt)."""
    mine = and_(d.c.webhook_id == webhook_id, PENDING)
    waiting = (d.c.next_attempt_at <= now) | d.c.next_attempt_at.is_(None)
    async with writing(engine) as conn:
        await conn.execute(update(d).where(_free(
            mine, waiting, d.c.created_at <= now - give_up_after))
            .values(state="failed", next_attempt_at=None,
                    last_error=func.coalesce(d.c.last_error, "endpoint failing")))
        await conn.execute(update(d).where(_free(mine, d.c.next_attempt_at < until))
                           .values(next_attempt_at=until))
        await conn.execute(update(d).where(_free(  # first in line now that others failed
            mine, d.c.next_attempt_at.is_(None), ~_blocked())).values(next_attempt_at=until))


async def waiting_behind(conn: AsyncConnection, queue_id: str, rank: int,
                         hooks: list[str]) -> set[str]:
    """The webhooks still owing an earlier (or equal) status of this message: its new
    row waits behind it. The rows are locked until the caller commits, so a delivery
    settling one meanwhile finds the new row to release. A row another transaction holds
    is passed over, not waited for (the fan-out's batch spans many messages, and a wait
    here closed lock cycles with the worker's statements): the new row is then due at
    once and still goes out after that one, which the due look checks."""
    rows = await conn.execute(
        select(d.c.webhook_id).where(d.c.queue_id == queue_id, d.c.webhook_id.in_(hooks),
                                     PENDING, d.c.rank <= rank)
        .with_for_update(skip_locked=True))
    return set(rows.scalars())


async def cancel_queued(conn: AsyncConnection, webhook_id: str) -> None:
    """A removed webhook gets nothing more: its pending rows are cancelled."""
    await conn.execute(update(d).where(d.c.webhook_id == webhook_id, PENDING)
                       .values(state="cancelled", next_attempt_at=None))

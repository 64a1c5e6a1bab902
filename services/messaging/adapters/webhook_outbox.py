"""The delivery outbox's statements: which rows are due (fairly: round-robin over the
webhooks' owners), claiming them, recording an attempt, backing off an endpoint whose
breaker opened, and cancelling what a removed webhook still had queued.

A row is due when its next attempt time has come, its webhook is still active, and no
earlier status of the same message is still pending for the same webhook (order per
message). Claiming pushes a row's next attempt past the delivery's time limit in one
statement that only takes rows still due, so two replicas never send a row at once."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import aliased

from services.messaging.adapters.webhook_tables import webhook_deliveries, webhooks

d = webhook_deliveries


def due_query(now: datetime, limit: int, busy_hooks: Collection[str] = (),
              full_owners: Collection[int] = ()) -> Any:
    """Due rows, each owner's oldest first, owners taking turns (`turn` is a row's place
    in its owner's queue); endpoints and owners with no room now are left out."""
    earlier = aliased(d)
    blocked = exists().where(and_(
        earlier.c.webhook_id == d.c.webhook_id, earlier.c.queue_id == d.c.queue_id,
        earlier.c.state == "pending",
        (earlier.c.rank < d.c.rank) | and_(earlier.c.rank == d.c.rank, earlier.c.id < d.c.id)))
    turn = func.row_number().over(partition_by=webhooks.c.user_id,
                                  order_by=(d.c.next_attempt_at, d.c.id))
    ranked = (select(d.c.id, d.c.webhook_id, webhooks.c.user_id, d.c.event_id, d.c.body,
                     d.c.attempts, d.c.created_at, d.c.next_attempt_at, webhooks.c.url,
                     webhooks.c.secret, turn.label("turn"))
              .join(webhooks, webhooks.c.webhook_id == d.c.webhook_id)
              .where(d.c.state == "pending", d.c.next_attempt_at <= now, webhooks.c.active,
                     d.c.webhook_id.not_in(list(busy_hooks)),
                     webhooks.c.user_id.not_in(list(full_owners)), ~blocked)
              .subquery())
    return (select(ranked).order_by(ranked.c.turn, ranked.c.next_attempt_at, ranked.c.id)
            .limit(limit))


async def due(engine: AsyncEngine, now: datetime, limit: int, busy_hooks: Collection[str],
              full_owners: Collection[int]) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(
            due_query(now, limit, busy_hooks, full_owners))).all())


async def claim(engine: AsyncEngine, ids: Iterable[int], now: datetime,
                lease_until: datetime) -> set[int]:
    """The rows of `ids` this caller got: those still pending and due at `now`."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(d).where(d.c.id.in_(list(ids)), d.c.state == "pending",
                            d.c.next_attempt_at <= now)
            .values(next_attempt_at=lease_until).returning(d.c.id))
        return set(result.scalars())


async def record(engine: AsyncEngine, row_id: int, values: dict[str, Any]) -> None:
    """One attempt's outcome; a row settled meanwhile (cancelled, or recorded by a
    replica whose claim had lapsed) keeps its state."""
    async with engine.begin() as conn:
        await conn.execute(update(d).where(d.c.id == row_id, d.c.state == "pending")
                           .values(**values))


async def back_off(engine: AsyncEngine, webhook_id: str, until: datetime, now: datetime,
                   give_up_after: timedelta) -> None:
    """An endpoint's breaker opened: its waiting rows past the give-up age are failed,
    the others wait until `until` (rows in flight are recorded by their own attempt)."""
    mine = and_(d.c.webhook_id == webhook_id, d.c.state == "pending")
    async with engine.begin() as conn:
        await conn.execute(update(d).where(
            mine, d.c.next_attempt_at <= now, d.c.created_at <= now - give_up_after)
            .values(state="failed", next_attempt_at=None,
                    last_error=func.coalesce(d.c.last_error, "endpoint failing")))
        await conn.execute(update(d).where(mine, d.c.next_attempt_at < until)
                           .values(next_attempt_at=until))


async def cancel_queued(conn: AsyncConnection, webhook_id: str) -> None:
    """A removed webhook gets nothing more: its pending rows are cancelled."""
    await conn.execute(update(d).where(d.c.webhook_id == webhook_id, d.c.state == "pending")
                       .values(state="cancelled", next_attempt_at=None))

"""The delivery outbox's writers never wait for each other's row locks in a cycle, on
real PostgreSQL (SQLite has one writer at a time, so it has no row locks to order).

The fan-out's batch locks the pending rows of one message after another; another writer
holding a later message's row and waiting for an earlier one's (the worker's back-off
walks a webhook's rows in next-attempt order) closed a cycle, which PostgreSQL broke by
failing one of them: a fan-out batch redelivered after the consumer's growing back-off,
and statuses held back for seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.db import create_engine
from services.messaging.adapters.webhook_outbox import claim, waiting_behind
from services.messaging.adapters.webhook_tables import webhook_deliveries, webhook_metadata

d = webhook_deliveries
HOOK = "whk_locks"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serialises writers: no row locks to wait for")
    made = create_engine(database_url)
    async with made.begin() as conn:
        await conn.run_sync(webhook_metadata.create_all)
    yield made
    await made.dispose()


async def _pending(engine: AsyncEngine, *queue_ids: str) -> list[int]:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(d.insert(), [
            {"webhook_id": HOOK, "event_id": f"e-{q}", "queue_id": q, "status": "Queued",
             "rank": 0, "body": b"{}", "state": "pending", "attempts": 0,
             "next_attempt_at": now - timedelta(seconds=1), "created_at": now}
            for q in queue_ids])
        rows = await conn.execute(select(d.c.id).order_by(d.c.id))
        return list(rows.scalars())


async def test_the_fan_out_passes_over_a_row_another_writer_holds(
        engine: AsyncEngine) -> None:
    first, second = await _pending(engine, "m1", "m2")
    async with engine.connect() as other, engine.connect() as fanout:
        await other.begin()
        await other.execute(update(d).where(d.c.id == second).values(attempts=1))
        await fanout.begin()
        assert await waiting_behind(fanout, "m1", 3, [HOOK]) == {HOOK}  # m1's row locked
        # the other writer now waits for m1's row, which the fan-out holds
        blocked = asyncio.create_task(other.execute(
            update(d).where(d.c.id == first).values(attempts=1)))
        await asyncio.sleep(0.3)
        assert not blocked.done()
        # m2's row is held by the waiting writer: waiting for it would close the cycle
        behind = await asyncio.wait_for(waiting_behind(fanout, "m2", 3, [HOOK]), 5)
        await fanout.commit()
        await asyncio.wait_for(blocked, 5)
        await other.commit()
    assert behind == set()  # its new row is due at once; the due look keeps the order


async def test_a_claim_passes_over_a_row_another_writer_holds(engine: AsyncEngine) -> None:
    held, free = await _pending(engine, "m1", "m2")
    now = datetime.now(UTC)
    async with engine.connect() as other:
        await other.begin()
        await other.execute(update(d).where(d.c.id == held).values(attempts=1))
        got = await asyncio.wait_for(
            claim(engine, [held, free], now, now + timedelta(seconds=10)), 5)
        await other.commit()
    assert got == {free}

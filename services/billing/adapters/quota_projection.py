"""The quota view's projection: each instance's usage per quota period and each user's
per calendar month (see quota_facts.py for what each event means).

The live consumers and the rebuild (quota_rebuild.py) fold a whole batch's facts first,
so a burst of messages from one user is one write; the live consumers also take the
billing process's write lock, so they never make billing's own writers wait on SQLite's
busy handler. `apply` (event by event) gives the same view: the merges are the same.
Nobody waits on the view (GetUsage reads it), so the live consumers let a batch's first
event linger `LINGER` s for more: fewer, larger transactions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.bus import Envelope
from kernel.consumer import BatchHandler
from kernel.db import writing
from kernel.projection import apply_tracked
from kernel.subscriptions import EventSubscription
from services.billing.adapters.quota_facts import BILLING_TYPES, INSTANCE, Fact, facts_of
from services.billing.adapters.quota_view import (
    instance_periods,
    merge,
    merge_many,
    user_months,
    view_metadata,
)

QUOTA = "quota"
# At most a batch per linger: 4,096 per 0.25 s keeps the view far above the bulk rates.
BATCH = 4096
LINGER = 0.25
TABLES = {INSTANCE: instance_periods, "quota_user_months": user_months}


async def merge_fact(conn: AsyncConnection, fact: Fact) -> None:
    await merge(conn, TABLES[fact.table], fact.row())


class QuotaProjection:
    """`name` is also the durable consumer prefix; tests pass their own to stay apart."""

    view = view_metadata

    def __init__(self, name: str = QUOTA) -> None:
        self.name = name
        self.sources: dict[str, Sequence[str]] = {
            "billing": BILLING_TYPES,
            "messaging": ["MessageQueued"],
        }

    async def apply(self, event: Envelope, conn: AsyncConnection) -> None:
        for fact in facts_of(event):
            await merge_fact(conn, fact)

    async def apply_batch(self, events: Sequence[Envelope], conn: AsyncConnection) -> None:
        """The same as `apply` for each event in turn, as one merge per row."""
        await fold(conn, events)

    def subscriptions(self, engine: AsyncEngine,
                      lock: asyncio.Lock) -> list[EventSubscription]:
        """The live subscriptions, one per source stream, with the same durable names a
        ProjectionRunner would use."""
        handler = folded(engine, self.name, lock)
        return [EventSubscription(service, tuple(types), f"{self.name}-{service}", handler,
                                  batch=BATCH, linger=LINGER)
                for service, types in self.sources.items()]


def folded(engine: AsyncEngine, name: str, lock: asyncio.Lock) -> BatchHandler:
    """The live consumers' handler: a batch in one transaction, under the write lock."""

    async def handle(batch: Sequence[Envelope]) -> None:
        async with lock, writing(engine) as conn:
            await apply_folded(conn, name, batch)

    return handle


async def apply_folded(conn: AsyncConnection, name: str, batch: Sequence[Envelope]) -> int:
    """Apply a batch's new events as one merge per row, recording their ids in the same
    transaction (so a redelivery changes nothing); returns the events applied."""
    return await apply_tracked(conn, QuotaProjection(name), batch)


async def fold(conn: AsyncConnection, events: Sequence[Envelope]) -> None:
    """Events known to be new, as one merge per row."""
    rows: dict[tuple[str, tuple[object, ...]], Fact] = {}
    for envelope in events:
        for fact in facts_of(envelope):
            rows.setdefault((fact.table, fact.key), Fact(fact.table, fact.key)).combine(fact)
    for table_name, table in TABLES.items():
        await merge_many(conn, table, [f.row() for f in rows.values() if f.table == table_name])

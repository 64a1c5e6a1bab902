"""Accounts loaded with their holds, and saved with them: the events of every changed
ledger or subscription and the index rows they imply, in one transaction. Ledgers and
subscriptions come from the kernel's repositories (kernel/aggregate.py), many at a time
from their committed copies; kernel/groupchange.py groups the changes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.aggregate import Aggregate, Repository
from kernel.codec import EventCodec
from kernel.db import reading
from kernel.eventstore import EventStore
from services.billing.adapters.index import (
    due_instances,
    load_holds,
    load_kinds,
    write_due,
    write_holds,
)
from services.billing.domain.holds import CREDIT, QUOTA, Hold, Holds, hold_changes
from services.billing.domain.model import Account, Ledger
from services.billing.domain.plans import Plan
from services.billing.domain.quota import QuotaAccount
from services.billing.domain.subscription import Subscription, due_change

A = TypeVar("A", bound=Aggregate)


class Unit(Protocol):
    def changed(self) -> list[Aggregate]: ...


class BillingStore:
    """One per process: its lock keeps billing's own writers (and the quota view's live
    consumers) from contending for the store, where SQLite would make the loser sleep;
    other processes are kept apart by the store itself."""

    def __init__(self, store: EventStore, codec: EventCodec) -> None:
        self.store = store
        self.codec = codec
        self.lock = asyncio.Lock()

    def repository(self, cls: type[A], cache_size: int) -> Repository[A]:
        """The repository of one kind of aggregate; saves here keep its copies current."""
        return Repository(self.store, self.codec, cls, cache_size)

    async def load(self, repo: Repository[A], kind: str, wanted: dict[str, list[str]]
                   ) -> tuple[dict[str, A], dict[str, Hold]]:
        """The aggregates `wanted`, and the holds of `kind` of their message ids, read
        together."""
        ids = [m for message_ids in wanted.values() for m in message_ids]
        async with reading(self.store.engine) as conn:
            found = await load_holds(conn, kind, ids) if ids else {}
            return await repo.get_many(wanted, conn), found

    async def holds(self, kinds: Sequence[str],
                    message_ids: Iterable[str]) -> dict[str, dict[str, Hold]]:
        """Kind -> message id -> hold, every kind read in one statement."""
        ids = list(message_ids)
        if not ids:
            return {kind: {} for kind in kinds}
        async with reading(self.store.engine) as conn:
            return await load_kinds(conn, kinds, ids)

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Instances whose quota period has ended by `now`, longest overdue first."""
        async with reading(self.store.engine) as conn:
            return await due_instances(conn, now, limit)

    async def save(self, repo: Repository[A], units: Sequence[Unit]) -> None:
        aggregates = [a for unit in units for a in unit.changed()]
        if not aggregates:
            return
        holds = [c for a in aggregates for e in a.pending for c in hold_changes(a.stream_id, e)]
        dues = [d for a in aggregates for e in a.pending if (d := due_change(e)) is not None]

        async def index(conn: AsyncConnection) -> None:
            await write_holds(conn, holds)
            await write_due(conn, dues)

        async with self.lock:
            await repo.save(*aggregates, extra=index)


def _mine(found: dict[str, Hold], message_ids: Iterable[str]) -> dict[str, Hold]:
    return {m: found[m] for m in message_ids if m in found}


class AccountStore:
    """Users' credit accounts, by user id."""

    def __init__(self, base: BillingStore, ledgers: Repository[Ledger]) -> None:
        self.base = base
        self.ledgers = ledgers

    async def load(self, wanted: dict[int, list[str]]) -> dict[int, Account]:
        ledgers, found = await self.base.load(self.ledgers, CREDIT,
                                              {str(u): ids for u, ids in wanted.items()})
        return {u: Account(ledgers[str(u)], Holds(CREDIT, _mine(found, wanted[u])))
                for u in wanted}

    async def save(self, units: Sequence[Account]) -> None:
        await self.base.save(self.ledgers, units)


class QuotaStore:
    """Instances' quota accounts, by instance id."""

    def __init__(self, base: BillingStore, subscriptions: Repository[Subscription],
                 free_plan: Plan) -> None:
        self.base = base
        self.subscriptions = subscriptions
        self.free_plan = free_plan

    async def load(self, wanted: dict[str, list[str]]) -> dict[str, QuotaAccount]:
        subs, found = await self.base.load(self.subscriptions, QUOTA, wanted)
        return {i: QuotaAccount(subs[i], self.free_plan, Holds(QUOTA, _mine(found, wanted[i])))
                for i in wanted}

    async def save(self, units: Sequence[QuotaAccount]) -> None:
        await self.base.save(self.subscriptions, units)

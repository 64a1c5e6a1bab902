"""Instances' quota accounts: changes are written in groups (kernel/groupchange.py) at
the injected clock's `now`; a read that finds nothing to roll over writes nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from kernel.clock import Clock, utcnow
from kernel.groupchange import GroupChange
from services.billing.domain.quota import QuotaAccount
from services.billing.domain.subscription import ACTIVE, QuotaState, Subscription, state_of

R = TypeVar("R")


class SubscriptionSource(Protocol):
    async def get(self, aggregate_id: str) -> Subscription: ...


class Subscriptions:
    def __init__(self, changes: GroupChange[str, QuotaAccount],
                 subscriptions: SubscriptionSource, clock: Clock = utcnow) -> None:
        self._changes = changes
        self._subscriptions = subscriptions
        self.now = clock

    async def change(self, instance_id: str, message_ids: Sequence[str],
                     change: Callable[[QuotaAccount], R]) -> R:
        return await self._changes.change(instance_id, message_ids, change)

    async def status(self, instance_id: str, user_id: int = 0) -> QuotaState:
        now = self.now()
        found = await self._subscriptions.get(instance_id)
        if found.started and (found.status != ACTIVE or now < found.period_end):
            return state_of(found)
        return await self.change(instance_id, (), lambda q: q.status(now, user_id))

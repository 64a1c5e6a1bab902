"""Instances' quota accounts: changes go through the group writer at the injected
clock's `now`; a read that finds nothing to roll over writes nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from services.billing.app.writer import GroupWriter
from services.billing.domain.quota import QuotaAccount
from services.billing.domain.subscription import ACTIVE, QuotaState, Subscription, state_of

R = TypeVar("R")
Clock = Callable[[], datetime]


class SubscriptionSource(Protocol):
    async def get(self, aggregate_id: str) -> Subscription: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


class Subscriptions:
    def __init__(self, writer: GroupWriter[str, QuotaAccount],
                 subscriptions: SubscriptionSource, clock: Clock = utc_now) -> None:
        self._writer = writer
        self._subscriptions = subscriptions
        self.now = clock

    async def change(self, instance_id: str, message_ids: Sequence[str],
                     change: Callable[[QuotaAccount], R]) -> R:
        return await self._writer.change(instance_id, message_ids, change)

    async def status(self, instance_id: str, user_id: int = 0) -> QuotaState:
        now = self.now()
        found = await self._subscriptions.get(instance_id)
        if found.started and (found.status != ACTIVE or now < found.period_end):
            return state_of(found)
        return await self.change(instance_id, (), lambda q: q.status(now, user_id))

"""What billing's handlers need from outside, and `BillingDeps`, the one object that
carries it: built once in bootstrap.py, held by the servicer and the event edge, and
passed to every handler as `handle(cmd, deps)`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.billing.app.accounts import Accounts
from services.billing.app.subscriptions import Subscriptions
from services.billing.domain.holds import Hold


class UsageSource(Protocol):
    """The quota view's rows (adapters/quota_view.py)."""

    async def instance_periods(self, instance_id: str) -> list[Any]: ...

    async def user_months(self, user_id: int) -> list[Any]: ...


class HoldIndex(Protocol):
    """Which holds of some kinds stand for some messages (kind -> message id -> hold),
    and which subscriptions are due (adapters/units.py)."""

    async def holds(self, kinds: Sequence[str],
                    message_ids: Iterable[str]) -> dict[str, dict[str, Hold]]: ...

    async def due(self, now: datetime, limit: int) -> list[str]: ...


@dataclass(frozen=True)
class BillingDeps:
    """Everything the billing handlers take."""

    accounts: Accounts
    subscriptions: Subscriptions
    usage: UsageSource
    index: HoldIndex

"""An instance's quota account: its subscription together with the holds (reservations)
of the message ids a change touches. Every change first brings the subscription up to
`now`: started on the free plan if billing has not seen the instance yet, and rolled
over (or expired) past every period that has ended."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kernel.aggregate import Aggregate
from services.billing.domain.errors import InvalidBillingRequestError
from services.billing.domain.holds import QUOTA, Holds, period_key
from services.billing.domain.plans import Plan
from services.billing.domain.subscription import ACTIVE, QuotaState, Subscription, state_of


@dataclass
class QuotaAccount:
    subscription: Subscription
    free_plan: Plan
    holds: Holds = field(default_factory=lambda: Holds(QUOTA))

    @property
    def owner(self) -> str:
        return self.subscription.stream_id

    def ready(self, now: datetime, user_id: int = 0) -> None:
        self.subscription.start(user_id, self.free_plan, now)
        self.subscription.catch_up(now)

    def status(self, now: datetime, user_id: int = 0) -> QuotaState:
        self.ready(now, user_id)
        return state_of(self.subscription)

    def reserve(self, message_ids: Sequence[str], now: datetime,
                user_id: int = 0) -> QuotaState:
        self.ready(now, user_id)
        new, already = self.holds.sort(self.owner, message_ids)
        with self.holds.recording(self.subscription):
            self.subscription.reserve(new)
        return state_of(self.subscription, len(new), already)

    def commit(self, message_ids: Sequence[str], now: datetime) -> QuotaState:
        self.ready(now)
        with self.holds.recording(self.subscription):
            self.subscription.spend(self.holds.open_of(self.owner, message_ids))
        return state_of(self.subscription)

    def refund(self, message_ids: Sequence[str], reason: str, now: datetime,
               spent_too: bool = False) -> QuotaState:
        """Quota comes back only for ids reserved in the current period; with `spent_too`
        also for committed ones (the far side failed them after taking them)."""
        self.ready(now)
        done = self.holds.open_of(self.owner, message_ids)
        if spent_too:
            done += self.holds.committed_of(self.owner, message_ids)
        current = period_key(self.subscription.period_start)
        in_period = [m for m in done if (h := self.holds.get(m)) and h.period == current]
        returned = len(in_period) if self.subscription.status == ACTIVE else 0
        with self.holds.recording(self.subscription):
            self.subscription.release(done, returned, reason)
        return state_of(self.subscription)

    def renew(self, plan: Plan, amount_cents: int, now: datetime,
              user_id: int = 0) -> QuotaState:
        self.ready(now, user_id)
        self.subscription.renew(plan, amount_cents, now)
        return state_of(self.subscription)

    def cancel(self, reason: str, now: datetime) -> None:
        self.subscription.catch_up(now)
        self.subscription.cancel(reason, now)

    def changed(self) -> list[Aggregate]:
        return [self.subscription] if self.subscription.pending else []


MAX_INSTANCE_ID_LENGTH = 128


def checked_instance_id(instance_id: str) -> str:
    if not instance_id.strip() or len(instance_id) > MAX_INSTANCE_ID_LENGTH:
        raise InvalidBillingRequestError(
            f"instance_id must be 1-{MAX_INSTANCE_ID_LENGTH} characters")
    return instance_id

"""An instance's subscription: its plan, its term, the quota period inside the term and
the quota used in it. Time comes in as `now`; the domain never reads a clock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kernel.aggregate import Aggregate
from services.billing.domain.errors import QuotaExceededError, SubscriptionEndedError
from services.billing.domain.plans import Plan, next_boundary, term_end
from services.billing.domain.subscription_events import (
    PeriodOpened,
    QuotaPeriodStarted,
    QuotaReleased,
    QuotaReserved,
    QuotaSpent,
    RenewalPaid,
    SubscriptionAutoRenewed,
    SubscriptionCancelled,
    SubscriptionExpired,
    SubscriptionOwnerRecorded,
    SubscriptionRenewed,
    SubscriptionStarted,
)

ACTIVE, EXPIRED, CANCELLED = "active", "expired", "cancelled"
# Periods caught up in one go at most (a hundred years of months).
MAX_ROLLOVERS = 1200
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


class Subscription(Aggregate):
    """Stream "subscription-<instance_id>". Used never exceeds the monthly quota."""

    stream_prefix = "subscription"
    immutable_state = True

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.user_id = 0
        self.plan = Plan(1, 1, 0, False)
        self.status = ""
        self.start_date = self.end_date = self.period_start = self.period_end = EPOCH
        # Where the plan's months are counted from: its start or renewal.
        self.anchor = EPOCH
        self.used = 0

    @property
    def instance_id(self) -> str:
        return self.id

    @property
    def started(self) -> bool:
        return bool(self.status)

    @property
    def due_at(self) -> datetime | None:
        """When this subscription next changes by itself (its quota period ends)."""
        return self.period_end if self.status == ACTIVE else None

    def start(self, user_id: int, plan: Plan, now: datetime) -> None:
        """Start `plan` now, unless started; then only learn the owner if it was unknown."""
        if not self.started:
            self._record(SubscriptionStarted(**self._new_term(plan, now, user_id)))
        elif user_id > 0 and self.user_id == 0:
            self._record(SubscriptionOwnerRecorded(self.id, user_id, self.period_start))

    def catch_up(self, now: datetime) -> None:
        """Roll every quota period and term that has ended by `now` over, or expire."""
        for _ in range(MAX_ROLLOVERS):
            if self.status != ACTIVE or now < self.period_end:
                return
            self._roll_over()

    def _roll_over(self) -> None:
        previous = self.period_start
        if self.period_end < self.end_date:
            opening = self._opening(self.plan, self.start_date, self.end_date, self.period_end)
            self._record(QuotaPeriodStarted(**opening, previous_period_start=previous))
        elif self.plan.auto_renew:
            stop = next_boundary(self.anchor, self.end_date, self.plan.months)
            opening = self._opening(self.plan, self.end_date, stop, self.end_date)
            self._record(SubscriptionAutoRenewed(**opening, previous_period_start=previous))
        else:
            self._record(SubscriptionExpired(self.id, self.user_id, previous, self.end_date))

    def renew(self, plan: Plan, amount_cents: int, now: datetime) -> None:
        if self.status == CANCELLED:
            raise SubscriptionEndedError(self.id)
        opening = self._new_term(plan, now)
        # The period this one closes early (none if it starts in the same second).
        previous = self.period_start if self.status == ACTIVE and \
            self.period_start != opening["period_start"] else None
        self._record(SubscriptionRenewed(**opening, previous_period_start=previous))
        self._record(RenewalPaid(self.id, self.user_id, amount_cents, plan.subscription_type,
                                 plan.period, self.start_date))

    def cancel(self, reason: str, now: datetime) -> None:
        if self.status in (ACTIVE, EXPIRED):
            self._record(SubscriptionCancelled(self.id, self.user_id, self.period_start, reason,
                                               whole_seconds(now)))

    def reserve(self, message_ids: Sequence[str]) -> None:
        if not message_ids:
            return
        if self.status != ACTIVE:
            raise QuotaExceededError.expired()
        if len(message_ids) > self.remaining:
            raise QuotaExceededError.used_up(len(message_ids), self.remaining,
                                             self.plan.monthly_quota)
        self._record(QuotaReserved(self.id, tuple(message_ids), len(message_ids),
                                   self.period_start))

    def spend(self, message_ids: Sequence[str]) -> None:
        if message_ids:
            self._record(QuotaSpent(self.id, tuple(message_ids)))

    def release(self, message_ids: Sequence[str], returned: int, reason: str) -> None:
        if message_ids:
            self._record(QuotaReleased(self.id, tuple(message_ids), min(returned, self.used),
                                       reason, self.period_start))

    @property
    def remaining(self) -> int:
        return max(self.plan.monthly_quota - self.used, 0)

    def _new_term(self, plan: Plan, now: datetime, user_id: int = 0) -> dict[str, Any]:
        start = whole_seconds(now)
        return self._opening(plan, start, term_end(start, plan), start, user_id, anchor=start)

    def _opening(self, plan: Plan, start: datetime, stop: datetime, period_start: datetime,
                 user_id: int = 0, anchor: datetime | None = None) -> dict[str, Any]:
        """The fields of an event that opens the quota period starting at `period_start`
        of the term `start`..`stop`."""
        period_end = next_boundary(anchor or self.anchor, period_start)
        return {
            "instance_id": self.id, "user_id": user_id or self.user_id,
            "subscription_type": plan.subscription_type, "period": plan.period,
            "monthly_quota": plan.monthly_quota, "auto_renew": plan.auto_renew,
            "start_date": start, "end_date": stop, "period_start": period_start,
            "period_end": min(period_end, stop),
        }

    def _open(self, event: PeriodOpened) -> None:
        self.user_id = event.user_id or self.user_id
        self.plan = Plan(event.subscription_type, event.period, event.monthly_quota,
                         event.auto_renew)
        self.start_date, self.end_date = event.start_date, event.end_date
        self.period_start, self.period_end = event.period_start, event.period_end
        self.used = 0
        self.status = ACTIVE

    def _begin(self, event: SubscriptionStarted | SubscriptionRenewed) -> None:
        self._open(event)
        self.anchor = event.start_date

    when_SubscriptionStarted = _begin
    when_SubscriptionRenewed = _begin
    when_SubscriptionAutoRenewed = _open
    when_QuotaPeriodStarted = _open

    def when_RenewalPaid(self, event: RenewalPaid) -> None:
        pass

    def when_SubscriptionOwnerRecorded(self, event: SubscriptionOwnerRecorded) -> None:
        self.user_id = event.user_id

    def when_SubscriptionExpired(self, event: SubscriptionExpired) -> None:
        self.status = EXPIRED

    def when_SubscriptionCancelled(self, event: SubscriptionCancelled) -> None:
        self.status = CANCELLED

    def when_QuotaReserved(self, event: QuotaReserved) -> None:
        self.used += event.count

    def when_QuotaSpent(self, event: QuotaSpent) -> None:
        pass

    def when_QuotaReleased(self, event: QuotaReleased) -> None:
        self.used = max(self.used - event.returned, 0)


@dataclass(frozen=True)
class QuotaState:
    """The subscription as the Instance API shows it."""

    instance_id: str
    user_id: int
    plan: Plan
    used: int
    start_date: datetime
    end_date: datetime
    period_start: datetime
    period_end: datetime
    status: str
    reserved: int = 0
    already_reserved: int = 0

    @property
    def remaining(self) -> int:
        return max(self.plan.monthly_quota - self.used, 0)

    @property
    def usage_percentage(self) -> float:
        quota = self.plan.monthly_quota
        return round(self.used * 100 / quota, 1) if quota else 0.0

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    @property
    def is_expired(self) -> bool:
        return self.status in (EXPIRED, CANCELLED)

    @property
    def has_quota_available(self) -> bool:
        return self.is_active and self.remaining > 0


def state_of(subscription: Subscription, reserved: int = 0, already: int = 0) -> QuotaState:
    s = subscription
    return QuotaState(s.id, s.user_id, s.plan, s.used, s.start_date, s.end_date,
                      s.period_start, s.period_end, s.status, reserved, already)


def due_change(event: Any) -> tuple[str, datetime | None] | None:
    """(instance, when it is next due) if `event` changes that; None (no due) once the
    subscription has expired or ended."""
    if isinstance(event, PeriodOpened):
        return event.instance_id, event.period_end
    if isinstance(event, SubscriptionExpired | SubscriptionCancelled):
        return event.instance_id, None
    return None

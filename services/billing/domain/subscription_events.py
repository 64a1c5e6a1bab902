"""What happened to an instance's subscription and quota, in the past tense. Stream
"subscription-<instance_id>". Field names match proto/switchboard/billing/v1/events.proto."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PeriodOpened:
    """The fields of every event that opens a quota period: the whole plan and its dates."""

    instance_id: str
    user_id: int
    subscription_type: int
    period: int
    monthly_quota: int
    auto_renew: bool
    start_date: datetime
    end_date: datetime
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True)
class SubscriptionStarted(PeriodOpened):
    pass


@dataclass(frozen=True)
class SubscriptionOwnerRecorded:
    instance_id: str
    user_id: int
    period_start: datetime


@dataclass(frozen=True)
class SubscriptionRenewed(PeriodOpened):
    previous_period_start: datetime | None = None


@dataclass(frozen=True)
class SubscriptionAutoRenewed(PeriodOpened):
    previous_period_start: datetime | None = None


@dataclass(frozen=True)
class QuotaPeriodStarted(PeriodOpened):
    previous_period_start: datetime | None = None


@dataclass(frozen=True)
class RenewalPaid:
    instance_id: str
    user_id: int
    amount_cents: int
    subscription_type: int
    period: int
    paid_at: datetime


@dataclass(frozen=True)
class SubscriptionExpired:
    instance_id: str
    user_id: int
    period_start: datetime
    expired_at: datetime


@dataclass(frozen=True)
class SubscriptionCancelled:
    instance_id: str
    user_id: int
    period_start: datetime
    reason: str
    cancelled_at: datetime


@dataclass(frozen=True)
class QuotaReserved:
    instance_id: str
    message_ids: tuple[str, ...]
    count: int
    period_start: datetime


@dataclass(frozen=True)
class QuotaSpent:
    instance_id: str
    message_ids: tuple[str, ...]


@dataclass(frozen=True)
class QuotaReleased:
    instance_id: str
    message_ids: tuple[str, ...]
    returned: int
    reason: str
    period_start: datetime

"""The Instance API's subscription and quota documents (seed 000), from billing's
QuotaStatus: one place for both, so GET /instance and GET /quota always agree."""

from __future__ import annotations

from gateway.timefmt import iso_naive
from switchboard.billing.v1 import billing_pb2


def subscription_block(q: billing_pb2.QuotaStatus) -> dict[str, object]:
    """The `subscription` block of GET /api/v1/whatsapp/instance (and of the renewal's
    answer): type and period as words, dates as "2024-01-01T00:00:00" (UTC)."""
    return {
        "type": q.subscription_type,
        "period": q.period,
        "monthlyQuota": q.monthly_quota,
        "messagesUsed": q.messages_used,
        "messagesRemaining": q.messages_remaining,
        "usagePercentage": round(q.usage_percentage, 1),
        "startDate": iso_naive(q.start_date),
        "endDate": iso_naive(q.end_date),
        "isActive": q.is_active,
        "isExpired": q.is_expired,
        "autoRenew": q.auto_renew,
    }


def quota_block(q: billing_pb2.QuotaStatus) -> dict[str, object]:
    """The `data` of GET /api/v1/whatsapp/quota."""
    return {
        "monthlyQuota": q.monthly_quota,
        "messagesUsed": q.messages_used,
        "messagesRemaining": q.messages_remaining,
        "usagePercentage": round(q.usage_percentage, 1),
        "periodStart": iso_naive(q.period_start),
        "periodEnd": iso_naive(q.period_end),
        "hasQuotaAvailable": q.has_quota_available,
        "isSubscriptionActive": q.is_subscription_active,
    }

"""The gRPC edge of subscriptions and quota (Instance API) and of the quota view."""

from __future__ import annotations

from typing import Any

import grpc

from kernel.clock import to_timestamp
from services.billing.app import quota_handlers as handlers
from services.billing.app.dependencies import BillingDeps
from services.billing.domain.commands import (
    GetQuota,
    GetUsage,
    ReleaseQuota,
    RenewSubscription,
    ReserveQuota,
)
from services.billing.domain.plans import PERIODS, TYPES
from services.billing.domain.subscription import QuotaState
from services.billing.ports.gathered import each_answered
from switchboard.billing.v1 import billing_pb2


def quota_pb(state: QuotaState) -> billing_pb2.QuotaStatus:
    return billing_pb2.QuotaStatus(
        instance_id=state.instance_id, user_id=state.user_id,
        subscription_type=state.plan.type_word, period=state.plan.period_word,
        monthly_quota=state.plan.monthly_quota, messages_used=state.used,
        messages_remaining=state.remaining, usage_percentage=state.usage_percentage,
        has_quota_available=state.has_quota_available,
        is_subscription_active=state.is_active, is_active=state.is_active,
        is_expired=state.is_expired, auto_renew=state.plan.auto_renew,
        reserved=state.reserved, already_reserved=state.already_reserved,
        period_start=to_timestamp(state.period_start), period_end=to_timestamp(state.period_end),
        start_date=to_timestamp(state.start_date), end_date=to_timestamp(state.end_date))


def period_pb(row: Any) -> billing_pb2.InstancePeriodUsage:
    return billing_pb2.InstancePeriodUsage(
        instance_id=row.instance_id, user_id=row.user_id,
        subscription_type=TYPES.get(row.subscription_type or 0, ""),
        period=PERIODS.get(row.period or 0, ("", 0))[0], monthly_quota=row.monthly_quota or 0,
        messages_used=row.messages_reserved - row.messages_returned, status=row.status,
        period_start=to_timestamp(row.period_start), period_end=to_timestamp(row.period_end))


def month_pb(row: Any) -> billing_pb2.UserMonthUsage:
    return billing_pb2.UserMonthUsage(
        user_id=row.user_id, month=row.month, messages_queued=row.messages_queued,
        instance_messages_queued=row.instance_messages_queued,
        credits_granted=row.credits_granted, credits_reserved=row.credits_reserved,
        credits_refunded=row.credits_refunded,
        renewal_payments_cents=row.renewal_payments_cents)


class QuotaRpcs:
    deps: BillingDeps

    async def ReserveQuota(self, request: billing_pb2.ReserveQuotaRequest,
                           context: grpc.aio.ServicerContext) -> billing_pb2.QuotaStatus:
        cmd = ReserveQuota(request.instance_id, tuple(request.message_ids), request.user_id)
        return quota_pb(await handlers.reserve_quota(cmd, self.deps))

    async def ReserveQuotaMany(self, request: billing_pb2.ReserveQuotaManyRequest,
                               context: grpc.aio.ServicerContext
                               ) -> billing_pb2.ReserveQuotaManyResponse:
        return billing_pb2.ReserveQuotaManyResponse(outcomes=await each_answered(
            self.ReserveQuota, request.requests, context, billing_pb2.QuotaOutcome))

    async def ReleaseQuota(self, request: billing_pb2.ReleaseQuotaRequest,
                           context: grpc.aio.ServicerContext) -> billing_pb2.QuotaStatus:
        cmd = ReleaseQuota(request.instance_id, tuple(request.message_ids),
                           request.reason or "released")
        return quota_pb(await handlers.release_quota(cmd, self.deps))

    async def GetQuota(self, request: billing_pb2.GetQuotaRequest,
                       context: grpc.aio.ServicerContext) -> billing_pb2.QuotaStatus:
        query = GetQuota(request.instance_id, request.user_id)
        return quota_pb(await handlers.get_quota(query, self.deps))

    async def RenewSubscription(self, request: billing_pb2.RenewSubscriptionRequest,
                                context: grpc.aio.ServicerContext) -> billing_pb2.QuotaStatus:
        cmd = RenewSubscription(request.instance_id, request.subscription_type, request.period,
                                request.monthly_quota, request.amount, request.auto_renew,
                                request.user_id)
        return quota_pb(await handlers.renew_subscription(cmd, self.deps))

    async def GetUsage(self, request: billing_pb2.GetUsageRequest,
                       context: grpc.aio.ServicerContext) -> billing_pb2.UsageReport:
        usage = await handlers.get_usage(GetUsage(request.instance_id, request.user_id),
                                         self.deps)
        return billing_pb2.UsageReport(instance_periods=[period_pb(r) for r in usage.periods],
                                       user_months=[month_pb(r) for r in usage.months])

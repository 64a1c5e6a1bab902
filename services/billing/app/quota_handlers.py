"""One function per subscription and quota command or query, each `handle(cmd, deps)`
(app/dependencies.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.billing.app.dependencies import BillingDeps
from services.billing.domain.commands import (
    CancelSubscription,
    CommitQuota,
    GetQuota,
    GetUsage,
    RefundQuota,
    ReleaseQuota,
    RenewSubscription,
    ReserveQuota,
    RollOver,
    StartSubscription,
)
from services.billing.domain.errors import InvalidBillingRequestError
from services.billing.domain.model import checked_message_ids
from services.billing.domain.plans import amount_in_cents, checked_plan
from services.billing.domain.quota import checked_instance_id
from services.billing.domain.subscription import QuotaState


async def reserve_quota(cmd: ReserveQuota, deps: BillingDeps) -> QuotaState:
    instance_id, ids = checked_instance_id(cmd.instance_id), checked_message_ids(cmd.message_ids)
    now = deps.subscriptions.now()
    return await deps.subscriptions.change(instance_id, ids,
                                      lambda q: q.reserve(ids, now, cmd.user_id))


async def release_quota(cmd: ReleaseQuota, deps: BillingDeps) -> QuotaState:
    instance_id, ids = checked_instance_id(cmd.instance_id), checked_message_ids(cmd.message_ids)
    now = deps.subscriptions.now()
    return await deps.subscriptions.change(instance_id, ids,
                                      lambda q: q.refund(ids, cmd.reason, now))


async def commit_quota(cmd: CommitQuota, deps: BillingDeps) -> QuotaState:
    now = deps.subscriptions.now()
    return await deps.subscriptions.change(cmd.instance_id, cmd.message_ids,
                                      lambda q: q.commit(cmd.message_ids, now))


async def refund_quota(cmd: RefundQuota, deps: BillingDeps) -> QuotaState:
    now = deps.subscriptions.now()
    return await deps.subscriptions.change(cmd.instance_id, cmd.message_ids,
                                      lambda q: q.refund(cmd.message_ids, cmd.reason, now,
                                                         spent_too=True))


async def renew_subscription(cmd: RenewSubscription, deps: BillingDeps) -> QuotaState:
    instance_id = checked_instance_id(cmd.instance_id)
    plan = checked_plan(cmd.subscription_type, cmd.period, cmd.monthly_quota, cmd.auto_renew)
    cents = amount_in_cents(cmd.amount)
    now = deps.subscriptions.now()
    return await deps.subscriptions.change(instance_id, (),
                                      lambda q: q.renew(plan, cents, now, cmd.user_id))


async def start_subscription(cmd: StartSubscription, deps: BillingDeps) -> None:
    now = deps.subscriptions.now()
    await deps.subscriptions.change(checked_instance_id(cmd.instance_id), (),
                               lambda q: q.ready(now, cmd.user_id))


async def cancel_subscription(cmd: CancelSubscription, deps: BillingDeps) -> None:
    now = deps.subscriptions.now()
    await deps.subscriptions.change(checked_instance_id(cmd.instance_id), (),
                               lambda q: q.cancel(cmd.reason, now))


async def roll_over(cmd: RollOver, deps: BillingDeps) -> None:
    """Bring a subscription up to now: the renewal worker's command."""
    now = deps.subscriptions.now()
    await deps.subscriptions.change(cmd.instance_id, (), lambda q: q.ready(now))


async def get_quota(query: GetQuota, deps: BillingDeps) -> QuotaState:
    return await deps.subscriptions.status(checked_instance_id(query.instance_id),
                                           query.user_id)


@dataclass(frozen=True)
class Usage:
    """The quota view's rows: an instance's periods, or a user's months."""

    periods: list[Any] = field(default_factory=list)
    months: list[Any] = field(default_factory=list)


async def get_usage(query: GetUsage, deps: BillingDeps) -> Usage:
    if bool(query.instance_id) == bool(query.user_id):
        raise InvalidBillingRequestError("Give either instance_id or user_id")
    if query.instance_id:
        return Usage(periods=await deps.usage.instance_periods(query.instance_id))
    return Usage(months=await deps.usage.user_months(query.user_id))

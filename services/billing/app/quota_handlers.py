"""One function per subscription and quota command; dependencies come in as parameters."""

from __future__ import annotations

from services.billing.app.subscriptions import Subscriptions
from services.billing.domain.commands import (
    CancelSubscription,
    CommitQuota,
    RefundQuota,
    ReleaseQuota,
    RenewSubscription,
    ReserveQuota,
    StartSubscription,
)
from services.billing.domain.model import checked_message_ids
from services.billing.domain.plans import amount_in_cents, checked_plan
from services.billing.domain.quota import checked_instance_id
from services.billing.domain.subscription import QuotaState


async def reserve_quota(cmd: ReserveQuota, subscriptions: Subscriptions) -> QuotaState:
    instance_id, ids = checked_instance_id(cmd.instance_id), checked_message_ids(cmd.message_ids)
    now = subscriptions.now()
    return await subscriptions.change(instance_id, ids,
                                      lambda q: q.reserve(ids, now, cmd.user_id))


async def release_quota(cmd: ReleaseQuota, subscriptions: Subscriptions) -> QuotaState:
    instance_id, ids = checked_instance_id(cmd.instance_id), checked_message_ids(cmd.message_ids)
    now = subscriptions.now()
    return await subscriptions.change(instance_id, ids,
                                      lambda q: q.refund(ids, cmd.reason, now))


async def commit_quota(cmd: CommitQuota, subscriptions: Subscriptions) -> QuotaState:
    now = subscriptions.now()
    return await subscriptions.change(cmd.instance_id, cmd.message_ids,
                                      lambda q: q.commit(cmd.message_ids, now))


async def refund_quota(cmd: RefundQuota, subscriptions: Subscriptions) -> QuotaState:
    now = subscriptions.now()
    return await subscriptions.change(cmd.instance_id, cmd.message_ids,
                                      lambda q: q.refund(cmd.message_ids, cmd.reason, now,
                                                         spent_too=True))


async def renew_subscription(cmd: RenewSubscription, subscriptions: Subscriptions) -> QuotaState:
    instance_id = checked_instance_id(cmd.instance_id)
    plan = checked_plan(cmd.subscription_type, cmd.period, cmd.monthly_quota, cmd.auto_renew)
    cents = amount_in_cents(cmd.amount)
    now = subscriptions.now()
    return await subscriptions.change(instance_id, (),
                                      lambda q: q.renew(plan, cents, now, cmd.user_id))


async def start_subscription(cmd: StartSubscription, subscriptions: Subscriptions) -> None:
    now = subscriptions.now()
    await subscriptions.change(checked_instance_id(cmd.instance_id), (),
                               lambda q: q.ready(now, cmd.user_id))


async def cancel_subscription(cmd: CancelSubscription, subscriptions: Subscriptions) -> None:
    now = subscriptions.now()
    await subscriptions.change(checked_instance_id(cmd.instance_id), (),
                               lambda q: q.cancel(cmd.reason, now))


async def roll_over(instance_id: str, subscriptions: Subscriptions) -> None:
    """Bring a subscription up to now: the renewal worker's command."""
    now = subscriptions.now()
    await subscriptions.change(instance_id, (), lambda q: q.ready(now))


async def get_quota(instance_id: str, user_id: int, subscriptions: Subscriptions) -> QuotaState:
    return await subscriptions.status(checked_instance_id(instance_id), user_id)

"""Settling messages' reservations on their device outcomes: MessageSent commits an open
hold, MessageFailed refunds an open or committed one (the far side may fail a message
after taking it); a refunded hold is left alone, so a redelivered or late outcome
changes nothing and a message is refunded at most once."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable

from services.billing.app import handlers, quota_handlers
from services.billing.app.dependencies import BillingDeps
from services.billing.domain.commands import (
    CommitQuota,
    CommitReservations,
    RefundQuota,
    RefundReservations,
    SettleMessages,
)
from services.billing.domain.holds import COMMITTED, CREDIT, OPEN, QUOTA
from services.billing.domain.model import Ledger
from services.billing.domain.subscription import Subscription

SENT, FAILED = "MessageSent", "MessageFailed"
SETTLES = {SENT: {OPEN}, FAILED: {OPEN, COMMITTED}}
LEDGER, SUBSCRIPTION = f"{Ledger.stream_prefix}-", f"{Subscription.stream_prefix}-"
Grouped = dict[tuple[str, str], list[str]]


async def settle_messages(cmd: SettleMessages, deps: BillingDeps) -> None:
    if not cmd.outcomes:
        return
    credits = await open_holds(deps, CREDIT, cmd.outcomes)
    quota = await open_holds(deps, QUOTA, cmd.outcomes)
    await asyncio.gather(*credit_settlements(credits, deps),
                         *quota_settlements(quota, deps))


async def open_holds(deps: BillingDeps, kind: str, outcomes: dict[str, str]) -> Grouped:
    """(owner stream, outcome) -> the holds of `kind` it settles."""
    grouped: Grouped = defaultdict(list)
    for message_id, hold in (await deps.index.holds(kind, outcomes)).items():
        if hold.state in SETTLES[outcomes[message_id]]:
            grouped[(hold.owner, outcomes[message_id])].append(message_id)
    return grouped


def credit_settlements(grouped: Grouped, deps: BillingDeps) -> list[Awaitable[object]]:
    settle: list[Awaitable[object]] = []
    for (owner, outcome), ids in grouped.items():
        user_id = int(owner.removeprefix(LEDGER))
        if outcome == SENT:
            settle.append(handlers.commit_reservations(
                CommitReservations(user_id, tuple(ids)), deps))
        else:
            settle.append(handlers.refund_reservations(
                RefundReservations(user_id, tuple(ids)), deps))
    return settle


def quota_settlements(grouped: Grouped, deps: BillingDeps) -> list[Awaitable[object]]:
    settle: list[Awaitable[object]] = []
    for (owner, outcome), ids in grouped.items():
        instance_id = owner.removeprefix(SUBSCRIPTION)
        if outcome == SENT:
            settle.append(quota_handlers.commit_quota(
                CommitQuota(instance_id, tuple(ids)), deps))
        else:
            settle.append(quota_handlers.refund_quota(
                RefundQuota(instance_id, tuple(ids)), deps))
    return settle

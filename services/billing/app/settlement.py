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
from services.billing.domain.holds import COMMITTED, CREDIT, OPEN, QUOTA, Hold
from services.billing.domain.model import Ledger
from services.billing.domain.subscription import Subscription

SENT, FAILED = "MessageSent", "MessageFailed"
SETTLES = {SENT: {OPEN}, FAILED: {OPEN, COMMITTED}}
LEDGER, SUBSCRIPTION = f"{Ledger.stream_prefix}-", f"{Subscription.stream_prefix}-"
Grouped = dict[tuple[str, str], list[str]]


async def settle_messages(cmd: SettleMessages, deps: BillingDeps) -> None:
    if not cmd.outcomes:
        return
    found = await deps.index.holds((CREDIT, QUOTA), cmd.outcomes)
    await asyncio.gather(*credit_settlements(open_holds(found[CREDIT], cmd.outcomes), deps),
                         *quota_settlements(open_holds(found[QUOTA], cmd.outcomes), deps))


def open_holds(holds: dict[str, Hold], outcomes: dict[str, str]) -> Grouped:
    """(owner stream, outcome) -> the ones of `holds` it settles."""
    grouped: Grouped = defaultdict(list)
    for message_id, hold in holds.items():
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

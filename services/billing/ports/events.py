"""The event edge of billing: device and auth events in, commands to the handlers.

Device outcomes settle reservations of credits and of quota (MessageSent commits an open
hold, MessageFailed refunds an open or committed one: the far side may fail a message
after taking it); a refunded hold is left alone, so a redelivered or late outcome
changes nothing and a message is refunded at most once. A new user (auth's UserRegistered) gets the
sign-up credits, at most once per ledger.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Sequence

from kernel.bus import Envelope
from kernel.subscriptions import EventSubscription
from services.billing.adapters.units import BillingStore
from services.billing.app import handlers, quota_handlers
from services.billing.app.accounts import Accounts
from services.billing.app.subscriptions import Subscriptions
from services.billing.domain.commands import (
    CommitQuota,
    CommitReservations,
    GrantSignupCredits,
    RefundQuota,
    RefundReservations,
)
from services.billing.domain.holds import COMMITTED, CREDIT, OPEN, QUOTA
from services.billing.domain.model import Ledger
from services.billing.domain.subscription import Subscription
from switchboard.auth.v1 import events_pb2 as auth_events
from switchboard.device.v1 import events_pb2 as device_events

SETTLEMENT_DURABLE = "billing-settlement"
SIGNUP_DURABLE = "billing-signup"
SENT, FAILED = "MessageSent", "MessageFailed"
OUTCOMES: dict[str, type[device_events.MessageSent] | type[device_events.MessageFailed]] = {
    SENT: device_events.MessageSent, FAILED: device_events.MessageFailed}
BATCH = 256
LEDGER, SUBSCRIPTION = f"{Ledger.stream_prefix}-", f"{Subscription.stream_prefix}-"


def settlement(accounts: Accounts, subscriptions: Subscriptions,
               index: BillingStore) -> EventSubscription:
    async def handle(batch: Sequence[Envelope]) -> None:
        outcomes = final_outcomes(batch)
        if not outcomes:
            return
        credits = await open_holds(index, CREDIT, outcomes)
        quota = await open_holds(index, QUOTA, outcomes)
        await asyncio.gather(*credit_settlements(credits, accounts),
                             *quota_settlements(quota, subscriptions))

    return EventSubscription("device", tuple(OUTCOMES), SETTLEMENT_DURABLE, handle,
                             batch=BATCH)


def final_outcomes(batch: Sequence[Envelope]) -> dict[str, str]:
    """Message id -> its outcome in this batch: failed when any says so (a failure may
    follow a send; nothing follows a failure), else sent."""
    outcomes: dict[str, str] = {}
    for envelope in batch:
        pb = OUTCOMES.get(envelope.event_type)
        message_id = pb.FromString(envelope.payload).message_id if pb else ""
        if message_id and outcomes.get(message_id) != FAILED:
            outcomes[message_id] = envelope.event_type
    return outcomes


SETTLES = {SENT: {OPEN}, FAILED: {OPEN, COMMITTED}}


async def open_holds(index: BillingStore, kind: str,
                     outcomes: dict[str, str]) -> dict[tuple[str, str], list[str]]:
    """(owner stream, outcome) -> the holds of `kind` it settles."""
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for message_id, hold in (await index.holds(kind, outcomes)).items():
        if hold.state in SETTLES[outcomes[message_id]]:
            grouped[(hold.owner, outcomes[message_id])].append(message_id)
    return grouped


def credit_settlements(grouped: dict[tuple[str, str], list[str]],
                       accounts: Accounts) -> list[Awaitable[object]]:
    settle: list[Awaitable[object]] = []
    for (owner, outcome), ids in grouped.items():
        user_id = int(owner.removeprefix(LEDGER))
        if outcome == SENT:
            settle.append(handlers.commit_reservations(
                CommitReservations(user_id, tuple(ids)), accounts))
        else:
            settle.append(handlers.refund_reservations(
                RefundReservations(user_id, tuple(ids)), accounts))
    return settle


def quota_settlements(grouped: dict[tuple[str, str], list[str]],
                      subscriptions: Subscriptions) -> list[Awaitable[object]]:
    settle: list[Awaitable[object]] = []
    for (owner, outcome), ids in grouped.items():
        instance_id = owner.removeprefix(SUBSCRIPTION)
        if outcome == SENT:
            settle.append(quota_handlers.commit_quota(
                CommitQuota(instance_id, tuple(ids)), subscriptions))
        else:
            settle.append(quota_handlers.refund_quota(
                RefundQuota(instance_id, tuple(ids)), subscriptions))
    return settle


def signup(accounts: Accounts, amount: int) -> EventSubscription:
    async def handle(batch: Sequence[Envelope]) -> None:
        users = {auth_events.UserRegistered.FromString(e.payload).user_id for e in batch}
        await asyncio.gather(*(
            handlers.grant_signup_credits(GrantSignupCredits(u, amount), accounts)
            for u in users if u > 0))

    return EventSubscription("auth", ("UserRegistered",), SIGNUP_DURABLE, handle,
                             batch=BATCH)

"""The event edge of billing: device and auth events in, commands to the handlers.

Device outcomes settle reservations of credits and of quota (app/settlement.py); a new
user (auth's UserRegistered) gets the sign-up credits, at most once per ledger.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from kernel.bus import Envelope
from kernel.subscriptions import EventSubscription
from services.billing.app import handlers
from services.billing.app.dependencies import BillingDeps
from services.billing.app.settlement import FAILED, SENT, settle_messages
from services.billing.domain.commands import GrantSignupCredits, SettleMessages
from switchboard.auth.v1 import events_pb2 as auth_events
from switchboard.device.v1 import events_pb2 as device_events

SETTLEMENT_DURABLE = "billing-settlement"
SIGNUP_DURABLE = "billing-signup"
OUTCOMES: dict[str, type[device_events.MessageSent] | type[device_events.MessageFailed]] = {
    SENT: device_events.MessageSent, FAILED: device_events.MessageFailed}
BATCH = 256
# How long (s) a settlement's first outcome waits for more. None: a refund is read back by
# clients the moment a message shows Failed (docs/performance.md, "Fifth wave").
SETTLEMENT_LINGER = 0.0


def settlement(deps: BillingDeps) -> EventSubscription:
    async def handle(batch: Sequence[Envelope]) -> None:
        await settle_messages(SettleMessages(final_outcomes(batch)), deps)

    return EventSubscription("device", tuple(OUTCOMES), SETTLEMENT_DURABLE, handle,
                             batch=BATCH, linger=SETTLEMENT_LINGER)


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


def signup(deps: BillingDeps, amount: int) -> EventSubscription:
    async def handle(batch: Sequence[Envelope]) -> None:
        users = {auth_events.UserRegistered.FromString(e.payload).user_id for e in batch}
        await asyncio.gather(*(
            handlers.grant_signup_credits(GrantSignupCredits(u, amount), deps)
            for u in users if u > 0))

    return EventSubscription("auth", ("UserRegistered",), SIGNUP_DURABLE, handle,
                             batch=BATCH)

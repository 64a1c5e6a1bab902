"""The event edge of billing: device and auth events in, commands to the handlers.

Device outcomes settle reservations of credits and of quota (app/settlement.py); a new
user (auth's UserRegistered) gets the sign-up credits, at most once per ledger.

Two durables read the outcomes. `billing-settlement` takes both kinds and lets a batch's
first outcome linger for more: nobody waits on a capture, so fewer, larger settlements
share their reads, writes and relay passes. `billing-refunds` takes only failures, at
once: a client reads its credits back the moment a message shows Failed. A failure both
see is refunded by the first and left alone by the other (a refunded hold never comes
back twice), in either order; the refunds durable starts at new failures only, since
the settlement durable covers every outcome already.
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
REFUNDS_DURABLE = "billing-refunds"
SIGNUP_DURABLE = "billing-signup"
OUTCOMES: dict[str, type[device_events.MessageSent] | type[device_events.MessageFailed]] = {
    SENT: device_events.MessageSent, FAILED: device_events.MessageFailed}
BATCH = 256
# A lingering consumer takes at most a batch per linger: 4,096 per 0.25 s keeps the
# settlement far above the bulk rates (a batch of 256 capped it near 1,000 a second).
SETTLEMENT_BATCH = 4096


def settlement(deps: BillingDeps, linger: float) -> list[EventSubscription]:
    """The settling durable, whose batch's first outcome waits `linger` s for more, and
    the refunding one, at once."""
    async def handle(batch: Sequence[Envelope]) -> None:
        await settle_messages(SettleMessages(final_outcomes(batch)), deps)

    return [EventSubscription("device", tuple(OUTCOMES), SETTLEMENT_DURABLE, handle,
                              batch=SETTLEMENT_BATCH, linger=linger),
            EventSubscription("device", (FAILED,), REFUNDS_DURABLE, handle, batch=BATCH,
                              only_new=True)]


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

"""The event edge of billing: device and auth events in, commands to the handlers.

Device outcomes settle reservations (MessageSent commits, MessageFailed refunds); the
reservation aggregates make that idempotent, so a redelivered event changes nothing.
A new user (auth's UserRegistered) gets the sign-up credits, at most once per ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from kernel.bus import Envelope, stream_name, subject
from kernel.consumer import DurableConsumer
from services.billing.adapters.reservations import ReservationReader
from services.billing.app import handlers
from services.billing.app.accounts import Accounts
from services.billing.domain.commands import (
    CommitReservations,
    GrantSignupCredits,
    RefundReservations,
)
from switchboard.auth.v1 import events_pb2 as auth_events
from switchboard.device.v1 import events_pb2 as device_events

SETTLEMENT_DURABLE = "billing-settlement"
SIGNUP_DURABLE = "billing-signup"
SENT, FAILED = "MessageSent", "MessageFailed"
OUTCOMES: dict[str, type[device_events.MessageSent] | type[device_events.MessageFailed]] = {
    SENT: device_events.MessageSent, FAILED: device_events.MessageFailed}
BATCH = 256

Worker = Callable[[asyncio.Event], Awaitable[None]]


def settlement_consumer(js: JetStreamContext, accounts: Accounts,
                        reservations: ReservationReader) -> DurableConsumer:
    async def handle(batch: Sequence[Envelope]) -> None:
        outcomes = first_outcomes(batch)
        owners = await reservations.owners(outcomes)
        sent: dict[int, list[str]] = defaultdict(list)
        failed: dict[int, list[str]] = defaultdict(list)
        for message_id, outcome in outcomes.items():
            if message_id in owners:
                (sent if outcome == SENT else failed)[owners[message_id]].append(message_id)
        await asyncio.gather(
            *(handlers.commit_reservations(CommitReservations(u, tuple(ids)), accounts)
              for u, ids in sent.items()),
            *(handlers.refund_reservations(RefundReservations(u, tuple(ids)), accounts)
              for u, ids in failed.items()))

    return DurableConsumer(js, "device", SETTLEMENT_DURABLE, handle, batch=BATCH,
                           filter_subjects=[subject("device", t) for t in OUTCOMES])


def first_outcomes(batch: Sequence[Envelope]) -> dict[str, str]:
    """Message id -> its first outcome in stream order (a later one cannot change it)."""
    outcomes: dict[str, str] = {}
    for envelope in batch:
        pb = OUTCOMES.get(envelope.event_type)
        message_id = pb.FromString(envelope.payload).message_id if pb else ""
        if message_id:
            outcomes.setdefault(message_id, envelope.event_type)
    return outcomes


def signup_consumer(js: JetStreamContext, accounts: Accounts, amount: int) -> DurableConsumer:
    async def handle(batch: Sequence[Envelope]) -> None:
        users = {auth_events.UserRegistered.FromString(e.payload).user_id for e in batch}
        await asyncio.gather(*(
            handlers.grant_signup_credits(GrantSignupCredits(u, amount), accounts)
            for u in users if u > 0))

    return DurableConsumer(js, "auth", SIGNUP_DURABLE, handle, batch=BATCH,
                           filter_subjects=[subject("auth", "UserRegistered")])


def worker(js: JetStreamContext, consumer: DurableConsumer) -> Worker:
    """Run `consumer` once its source stream exists (its own service creates it)."""

    async def run(stop: asyncio.Event) -> None:
        if await stream_ready(js, consumer.service, stop):
            await consumer.run(stop)

    return run


async def stream_ready(js: JetStreamContext, service: str, stop: asyncio.Event) -> bool:
    while not stop.is_set():
        try:
            await js.stream_info(stream_name(service))
            return True
        except NotFoundError:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
    return False

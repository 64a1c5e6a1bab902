"""Instances come and go in the auth service: InstanceCreated starts the free plan,
InstanceDeleted ends the subscription. Both are idempotent (starting a started
subscription, or ending an ended one, records nothing)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

from kernel.bus import Envelope
from kernel.subscriptions import EventSubscription
from services.billing.app import quota_handlers
from services.billing.app.dependencies import BillingDeps
from services.billing.domain.commands import CancelSubscription, StartSubscription
from switchboard.auth.v1 import events_pb2 as auth_events

INSTANCES_DURABLE = "billing-instances"
BATCH = 256
Step = Callable[[], Awaitable[None]]


def instances(deps: BillingDeps) -> EventSubscription:
    async def handle(batch: Sequence[Envelope]) -> None:
        steps: dict[str, list[Step]] = defaultdict(list)
        for envelope in batch:
            instance_id, step = _step(envelope, deps)
            if instance_id:
                steps[instance_id].append(step)
        await asyncio.gather(*(_in_order(s) for s in steps.values()))

    return EventSubscription("auth", ("InstanceCreated", "InstanceDeleted"),
                             INSTANCES_DURABLE, handle, batch=BATCH)


def _step(envelope: Envelope, deps: BillingDeps) -> tuple[str, Step]:
    if envelope.event_type == "InstanceCreated":
        created = auth_events.InstanceCreated.FromString(envelope.payload)
        start = StartSubscription(created.instance_id, created.user_id)
        return created.instance_id, lambda: quota_handlers.start_subscription(start, deps)
    deleted = auth_events.InstanceDeleted.FromString(envelope.payload)
    cancel = CancelSubscription(deleted.instance_id)
    return deleted.instance_id, lambda: quota_handlers.cancel_subscription(cancel, deps)


async def _in_order(steps: list[Step]) -> None:
    for step in steps:
        await step()

"""Instances come from auth: InstanceCreated registers the instance's device (device id =
instance id, owned by the user; pooled too when the owner is an admin and
`pool_admin_instances` is on), InstanceDeleted retires it. A subscription to auth's
stream; both handlers are idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kernel import context
from kernel.bus import Envelope
from kernel.subscriptions import EventSubscription
from services.device.adapters.auth_users import IsAdmin, instance_registration, moment
from services.device.app.devices import DeviceDeps, ensure_registered
from services.device.app.sessions import Sessions
from switchboard.auth.v1 import events_pb2 as auth_events

log = logging.getLogger(__name__)

AUTH = "auth"
INSTANCES_DURABLE = "device-instances"
CREATED, DELETED = "InstanceCreated", "InstanceDeleted"

class InstanceEvents:
    def __init__(self, deps: DeviceDeps, sessions: Sessions, is_admin: IsAdmin | None) -> None:
        self.deps = deps
        self.sessions = sessions
        self.is_admin = is_admin

    def subscription(self, durable: str = INSTANCES_DURABLE) -> EventSubscription:
        return EventSubscription(AUTH, (CREATED, DELETED), durable, self.handle)

    async def handle(self, batch: Sequence[Envelope]) -> None:
        for envelope in batch:
            context.caused_by(envelope.event_id, envelope.correlation_id)
            if envelope.event_type == CREATED:
                await self.created(auth_events.InstanceCreated.FromString(envelope.payload))
            elif envelope.event_type == DELETED:
                await self.deleted(auth_events.InstanceDeleted.FromString(envelope.payload))

    async def created(self, event: auth_events.InstanceCreated) -> None:
        await ensure_registered(await instance_registration(
            event.instance_id, event.instance_name, event.user_id, event.id,
            moment(event.created_at, event.HasField("created_at")), self.is_admin), self.deps)

    async def deleted(self, event: auth_events.InstanceDeleted) -> None:
        await self.sessions.retire(event.instance_id, "instance deleted")

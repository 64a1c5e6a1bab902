"""Which protobuf message carries each auth domain event."""

from __future__ import annotations

from kernel.codec import EventCodec
from services.auth.domain import events
from switchboard.auth.v1 import events_pb2


def auth_codec() -> EventCodec:
    return EventCodec({
        events.UserIdAllocated: events_pb2.UserIdAllocated,
        events.UsernameClaimed: events_pb2.UsernameClaimed,
        events.UserRegistered: events_pb2.UserRegistered,
        events.PasswordSet: events_pb2.PasswordSet,
        events.AdminGranted: events_pb2.AdminGranted,
        events.AdminRevoked: events_pb2.AdminRevoked,
        events.UserDisabled: events_pb2.UserDisabled,
        events.UserEnabled: events_pb2.UserEnabled,
        events.InstanceNumberAllocated: events_pb2.InstanceNumberAllocated,
        events.PublicKeyClaimed: events_pb2.PublicKeyClaimed,
        events.InstanceCreated: events_pb2.InstanceCreated,
        events.InstanceKeysRotated: events_pb2.InstanceKeysRotated,
        events.InstanceDeleted: events_pb2.InstanceDeleted,
    }, private={  # hashes of credentials stay in auth's store, never on the bus
        events.PasswordSet: ("password_hash",),
        events.InstanceCreated: ("secret_hash",),
        events.InstanceKeysRotated: ("secret_hash",),
    })

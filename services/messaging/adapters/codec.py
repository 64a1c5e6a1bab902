"""Which protobuf message carries which messaging event."""

from __future__ import annotations

from kernel.codec import EventCodec
from services.messaging.domain.events import MessageQueued
from services.messaging.domain.webhook import WebhookRegistered, WebhookRemoved
from switchboard.messaging.v1 import events_pb2


def messaging_codec() -> EventCodec:
    return EventCodec({MessageQueued: events_pb2.MessageQueued,
                       # messaging webhooks
                       WebhookRegistered: events_pb2.WebhookRegistered,
                       WebhookRemoved: events_pb2.WebhookRemoved})
